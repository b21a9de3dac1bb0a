#pragma once
// Wall-clock time as milliseconds since the Unix epoch, behind an interface so tests are exact.
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
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace fls
