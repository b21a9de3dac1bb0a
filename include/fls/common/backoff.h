#pragma once
// Pacing retries of something that fails for a while (a database that is not up yet, a
// connection that broke): exponential backoff, and a sleep that a stop cuts short.
#include <atomic>
#include <chrono>

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

}  // namespace fls
