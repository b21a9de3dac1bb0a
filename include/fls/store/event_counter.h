#pragma once
// Events stored in the last hour under the current registration, for the KMS health check,
// counted in memory (per-second buckets) instead of scanning the events table.
#include <array>
#include <cstdint>
#include <mutex>

#include "fls/common/clock.h"

namespace fls {

class EventCounter {
 public:
  void add(EpochMillis now, std::uint64_t count);
  std::uint64_t last_hour(EpochMillis now) const;
  void reset();

 private:
  static constexpr std::int64_t kSeconds = 3600;
  mutable std::mutex mutex_;
  std::array<std::uint64_t, kSeconds> counts_{};
  std::array<std::int64_t, kSeconds> second_of_{};  // which epoch second a bucket holds
};

}  // namespace fls
