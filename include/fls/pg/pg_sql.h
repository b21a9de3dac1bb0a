#pragma once
#include <string>
#include <vector>
// SQL fragments for the timestamps of protocol.md (milliseconds) and for time windows
// (microseconds, PostgreSQL's resolution), kept exact: no floating point.

// A bigint of milliseconds since the epoch, as timestamptz.
#define FLS_SQL_FROM_MILLIS(param) "(timestamptz 'epoch' + (" param ")::bigint * interval '1 millisecond')"
// A timestamptz column, as a bigint of milliseconds since the epoch.
#define FLS_SQL_TO_MILLIS(column) "(extract(epoch FROM " column ") * 1000)::bigint"
// A bigint of microseconds since the epoch, as timestamptz.
#define FLS_SQL_FROM_MICROS(param) "(timestamptz 'epoch' + (" param ")::bigint * interval '1 microsecond')"
// A timestamptz column, as a bigint of microseconds since the epoch.
#define FLS_SQL_TO_MICROS(column) "(extract(epoch FROM " column ") * 1000000)::bigint"

namespace fls {

// A PostgreSQL array literal of UUIDs, for a `$n::uuid[]` parameter. The ids must be UUIDs
// (checked where they enter), which need no quoting inside the literal.
inline std::string uuid_array_literal(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out += ',';
    out += ids[i];
  }
  out += '}';
  return out;
}

}  // namespace fls
