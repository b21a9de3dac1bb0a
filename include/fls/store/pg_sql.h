#pragma once
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
