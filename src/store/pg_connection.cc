#include "fls/store/pg_connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace fls {

std::chrono::milliseconds Backoff::next() {
  current_ = current_.count() == 0 ? std::chrono::milliseconds(100) : std::min(current_ * 2, max_);
  return current_;
}

void sleep_unless_stopping(std::chrono::milliseconds delay, const std::atomic<bool>& stopping) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!stopping && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
}

std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& uri, const char* who,
                                                     const std::atomic<bool>& stopping) {
  Backoff backoff;
  while (!stopping) {
    try {
      return std::make_unique<pqxx::connection>(uri);
    } catch (const std::exception& e) {
      const auto delay = backoff.next();
      // libpq's message does not contain the password; the URI is not logged.
      spdlog::error("{}: cannot connect to the database, retrying in {} ms: {}", who, delay.count(),
                    e.what());
      sleep_unless_stopping(delay, stopping);
    }
  }
  return nullptr;
}

}  // namespace fls
