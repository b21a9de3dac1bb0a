#include "fls/pg/pg_connection.h"

#include <spdlog/spdlog.h>

#include "fls/common/backoff.h"
#include "fls/pg/connection_policy.h"

namespace fls {

std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& uri, const char* who,
                                                     const std::atomic<bool>& stopping) {
  Backoff backoff;
  while (!stopping) {
    try {
      return std::make_unique<pqxx::connection>(with_connection_policy(uri));
    } catch (const std::exception& e) {
      const auto delay = backoff.next();
      // libpq's message does not contain the password; the URI is not logged.
      spdlog::error("{}: cannot connect to the database, retrying in {} ms: {}", who, delay.count(), e.what());
      sleep_unless_stopping(delay, stopping);
    }
  }
  return nullptr;
}

}  // namespace fls
