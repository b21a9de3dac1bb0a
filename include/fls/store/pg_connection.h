#pragma once
// Opening PostgreSQL connections that survive the database being down for a while.
#include <atomic>
#include <chrono>
#include <memory>
#include <pqxx/connection>
#include <string>

namespace fls {

// Exponential backoff between attempts, from 100 ms up to `max_delay`.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds max_delay = std::chrono::seconds(5)) : max_(max_delay) {}
  std::chrono::milliseconds next();
  void reset() { current_ = std::chrono::milliseconds(0); }

 private:
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_{0};
};

// Sleeps for `delay` unless `stopping` becomes true first (polled every 50 ms).
void sleep_unless_stopping(std::chrono::milliseconds delay, const std::atomic<bool>& stopping);

// Connects, retrying with backoff and logging each failure, until it succeeds (returns the
// connection) or `stopping` becomes true (returns nullptr). `who` names the user in logs.
std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& uri, const char* who,
                                                     const std::atomic<bool>& stopping);

}  // namespace fls
