#include "fls/pg/migrator.h"

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>
#include <set>

#include "fls/common/backoff.h"
#include "fls/pg/pg_connection.h"

namespace fls {

std::vector<std::string> apply_migrations(pqxx::connection& connection, const std::string& table,
                                          const std::vector<Migration>& all) {
  pqxx::work tx(connection);
  // The lock key is derived from the table name, so different migration sets do not block
  // each other; it is released with the transaction.
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", table);
  const std::string quoted = tx.quote_name(table);
  tx.exec("CREATE TABLE IF NOT EXISTS " + quoted +
          " (name text PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())");
  std::set<std::string> applied;
  for (const auto& row : tx.exec("SELECT name FROM " + quoted)) applied.insert(row[0].c_str());

  std::vector<std::string> done;
  for (const auto& migration : all) {
    if (applied.count(migration.name) != 0) continue;
    tx.exec(migration.sql);
    tx.exec_params("INSERT INTO " + quoted + " (name) VALUES ($1)", migration.name);
    done.push_back(migration.name);
  }
  tx.commit();
  return done;
}

void migrate_with_retry(const std::string& uri, const std::string& table, const std::vector<Migration>& all) {
  const std::atomic<bool> never_stop{false};
  for (Backoff backoff;;) {
    auto connection = connect_with_retry(uri, "migrations", never_stop);
    try {
      const auto applied = apply_migrations(*connection, table, all);
      for (const auto& name : applied) spdlog::info("applied migration {}", name);
      if (applied.empty()) spdlog::info("database schema is up to date");
      return;
    } catch (const pqxx::broken_connection& e) {
      const auto delay = backoff.next();
      spdlog::error("migrations: database connection lost, retrying in {} ms: {}", delay.count(), e.what());
      sleep_unless_stopping(delay, never_stop);
    }
  }
}

}  // namespace fls
