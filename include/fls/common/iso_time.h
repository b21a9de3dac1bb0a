#pragma once
// The timestamp forms that cross the sidecar's boundaries.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fls/common/clock.h"

namespace fls {

// Appends JavaScript's Date.prototype.toISOString() form: 2017-07-14T14:16:15.123Z.
void append_iso_millis(std::string& out, EpochMillis ms);
std::string format_iso_millis(EpochMillis ms);

// An instant with nanosecond resolution, as parsed from an ISO-8601 text.
struct Instant {
  std::int64_t epoch_seconds;
  std::int32_t nanos;  // 0 .. 999'999'999
  // Whole microseconds, rounded towards later (ceil) or earlier (floor), for PostgreSQL.
  std::int64_t micros_ceil() const;
  std::int64_t micros_floor() const;
  bool operator<(const Instant& other) const {
    return epoch_seconds != other.epoch_seconds ? epoch_seconds < other.epoch_seconds : nanos < other.nanos;
  }
};

// Parses a UTC instant: YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+00:00), as Java's ISO_INSTANT and
// JavaScript's toISOString() write it. Returns nullopt for anything else, including
// out-of-range fields.
std::optional<Instant> parse_iso_instant(std::string_view text);

}  // namespace fls
