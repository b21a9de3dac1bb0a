#pragma once
// Opening PostgreSQL connections that survive the database being down for a while.
#include <atomic>
#include <memory>
#include <pqxx/connection>
#include <string>

namespace fls {

// Connects, retrying with backoff and logging each failure, until it succeeds (returns the
// connection) or `stopping` becomes true (returns nullptr). `who` names the user in logs.
std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& uri, const char* who,
                                                     const std::atomic<bool>& stopping);

}  // namespace fls
