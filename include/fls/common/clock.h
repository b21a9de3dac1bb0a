#pragma once
// Wall-clock time as milliseconds since the Unix epoch, and monotonic time for deadlines and
// delays, each behind an interface so tests are exact.
#include <chrono>
#include <cstdint>

namespace fls {

using EpochMillis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual EpochMillis now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  EpochMillis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Monotonic time, for deadlines and delays; a test steps it by hand.
class SteadyClock {
 public:
  virtual ~SteadyClock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
};

class SystemSteadyClock final : public SteadyClock {
 public:
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace fls
