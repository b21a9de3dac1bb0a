#pragma once
// Applies schema migrations exactly once, recording each in a table of applied migrations.
#include <pqxx/connection>
#include <string>
#include <vector>

#include "fls/pg/migration.h"

namespace fls {

// Applies, in one transaction, every migration of `all` not yet recorded in `table`; returns
// the names applied. Holds a PostgreSQL advisory lock for the duration, so sidecars starting
// together against one database wait for each other instead of racing.
std::vector<std::string> apply_migrations(pqxx::connection& connection, const std::string& table,
                                          const std::vector<Migration>& all);

// Connects (retrying while the database is unreachable, as it may be while an orchestrator
// starts everything at once), then applies the migrations; logs what it applied. Throws if a
// migration itself fails.
void migrate_with_retry(const std::string& uri, const std::string& table, const std::vector<Migration>& all);

}  // namespace fls
