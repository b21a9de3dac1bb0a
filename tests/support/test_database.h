#pragma once
// A fresh PostgreSQL database, dropped (WITH (FORCE)) at the end: one per test in the throwaway
// cluster that scripts/test.sh starts (FLS_TEST_DATABASE_URI names its maintenance database),
// one per fls-bench run in the cluster it is given. Does not depend on GoogleTest.
#include <pqxx/pqxx>
#include <string>

namespace fls::test {

class TestDatabase {
 public:
  // A database with a random name, next to the one FLS_TEST_DATABASE_URI names.
  TestDatabase();
  // The database `name`, next to the one `admin_uri` names (where it may create and drop it).
  TestDatabase(std::string admin_uri, std::string name);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& uri() const { return uri_; }
  const std::string& name() const { return name_; }
  // Runs one query in its own transaction and returns the result.
  pqxx::result query(const std::string& sql);
  long long count(const std::string& sql);  // the first column of the first row

 private:
  void create();

  std::string admin_uri_;
  std::string name_;
  std::string uri_;
};

// postgres://user:pw@host:port/db?x -> the same URI naming another database.
std::string with_database(const std::string& uri, const std::string& database);

}  // namespace fls::test
