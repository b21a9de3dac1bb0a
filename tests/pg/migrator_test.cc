// fls::apply_migrations against a real PostgreSQL: applies in the order given and records each,
// applies nothing twice, applies a failing set not at all, and serializes concurrent starts.
#include "fls/pg/migrator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fls/pg/migration.h"
#include "test_database.h"

namespace fls {
namespace {

const std::vector<Migration> kTwo{
    {"0001_create", "CREATE TABLE t (a integer NOT NULL)"},
    // Fails unless 0001 ran first.
    {"0002_add_column", "ALTER TABLE t ADD COLUMN b text NOT NULL DEFAULT 'x'"},
};

std::vector<std::string> apply_set(const std::string& uri, const std::vector<Migration>& all,
                                   const std::string& table = "test_migrations") {
  pqxx::connection connection(uri);
  return apply_migrations(connection, table, all);
}

std::vector<std::string> recorded(test::TestDatabase& db, const std::string& table = "test_migrations") {
  std::vector<std::string> names;
  for (const auto& row : db.query("SELECT name FROM " + table + " ORDER BY name")) names.push_back(row[0].c_str());
  return names;
}

TEST(Migrator, AppliesEveryMigrationInOrderAndRecordsEach) {
  test::TestDatabase db;
  EXPECT_EQ(apply_set(db.uri(), kTwo), (std::vector<std::string>{"0001_create", "0002_add_column"}));
  EXPECT_EQ(recorded(db), (std::vector<std::string>{"0001_create", "0002_add_column"}));
  db.query("INSERT INTO t (a) VALUES (1)");
  EXPECT_EQ(db.query("SELECT b FROM t")[0][0].as<std::string>(), "x");
}

TEST(Migrator, AppliesNothingTwiceAndOnlyWhatIsNew) {
  test::TestDatabase db;
  apply_set(db.uri(), kTwo);
  db.query("INSERT INTO t (a) VALUES (7)");
  // 0001 is a plain CREATE TABLE: running it again would fail.
  EXPECT_TRUE(apply_set(db.uri(), kTwo).empty());

  auto three = kTwo;
  three.push_back({"0003_add_row", "INSERT INTO t (a) VALUES (42)"});
  EXPECT_EQ(apply_set(db.uri(), three), (std::vector<std::string>{"0003_add_row"}));
  EXPECT_TRUE(apply_set(db.uri(), three).empty());
  EXPECT_EQ(db.count("SELECT count(*) FROM t"), 2);  // 7 and one 42
  EXPECT_EQ(recorded(db).size(), 3u);
}

TEST(Migrator, AFailingMigrationLeavesNothingOfItsSetApplied) {
  test::TestDatabase db;
  const std::vector<Migration> broken{kTwo[0], {"0002_broken", "ALTER TABLE no_such_table ADD COLUMN c int"}};
  EXPECT_THROW(apply_set(db.uri(), broken), pqxx::sql_error);
  // One transaction: neither 0001's table nor any record survived.
  EXPECT_EQ(db.count("SELECT count(*) FROM pg_tables WHERE tablename IN ('t', 'test_migrations')"), 0);
  // Once fixed, the whole set applies.
  EXPECT_EQ(apply_set(db.uri(), kTwo).size(), 2u);
}

TEST(Migrator, SetsRecordedInDifferentTablesAreIndependent) {
  test::TestDatabase db;
  apply_set(db.uri(), std::vector<Migration>{{"0001_create", "CREATE TABLE t (a integer)"}}, "first_migrations");
  // The same name in another table is another migration.
  EXPECT_EQ(
      apply_set(db.uri(), std::vector<Migration>{{"0001_create", "CREATE TABLE u (a integer)"}}, "second_migrations"),
      (std::vector<std::string>{"0001_create"}));
  EXPECT_EQ(db.count("SELECT count(*) FROM pg_tables WHERE tablename IN ('t', 'u')"), 2);
}

TEST(Migrator, ConcurrentStartsApplyEachMigrationExactlyOnce) {
  test::TestDatabase db;
  // The first migration is slow, so the starts overlap while it runs.
  const std::vector<Migration> slow{{"0001_slow", "SELECT pg_sleep(0.5); CREATE TABLE t (a integer)"},
                                    {"0002_row", "INSERT INTO t VALUES (1)"}};
  constexpr int kStarts = 4;
  std::vector<std::vector<std::string>> applied(kStarts);
  std::vector<std::string> errors(kStarts);
  std::vector<std::thread> starts;
  for (int i = 0; i < kStarts; ++i) {
    starts.emplace_back([&, i] {
      try {
        applied[i] = apply_set(db.uri(), slow);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : starts) t.join();
  std::vector<std::string> all;
  for (int i = 0; i < kStarts; ++i) {
    EXPECT_EQ(errors[i], "") << "start " << i;
    all.insert(all.end(), applied[i].begin(), applied[i].end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"0001_slow", "0002_row"}));
  EXPECT_EQ(db.count("SELECT count(*) FROM t"), 1);
}

TEST(Migrator, CompiledInSetsApplyToAnEmptyDatabaseAndAreThenUpToDate) {
  for (const auto* set : {&migrations::sidecar(), &migrations::kms()}) {
    test::TestDatabase db;
    ASSERT_FALSE(set->empty());
    std::vector<std::string> names;
    for (const auto& m : *set) names.push_back(m.name);
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
    EXPECT_EQ(apply_set(db.uri(), *set), names);
    EXPECT_TRUE(apply_set(db.uri(), *set).empty());
  }
}

}  // namespace
}  // namespace fls
