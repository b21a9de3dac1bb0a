#include "fls/store/event_counter.h"

namespace fls {

void EventCounter::add(EpochMillis now, std::uint64_t count) {
  const std::int64_t second = now / 1000;
  const auto slot = static_cast<std::size_t>(second % kSeconds);
  std::lock_guard lock(mutex_);
  if (second_of_[slot] != second) {
    second_of_[slot] = second;
    counts_[slot] = 0;
  }
  counts_[slot] += count;
}

std::uint64_t EventCounter::last_hour(EpochMillis now) const {
  const std::int64_t second = now / 1000;
  std::uint64_t total = 0;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (second - second_of_[i] < kSeconds && second_of_[i] <= second) total += counts_[i];
  }
  return total;
}

void EventCounter::reset() {
  std::lock_guard lock(mutex_);
  counts_.fill(0);
  second_of_.fill(0);
}

}  // namespace fls
