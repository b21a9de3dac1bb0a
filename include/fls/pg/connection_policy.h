#pragma once
// One connection policy for every PostgreSQL connection either executable opens, libpq's and
// libpqxx's alike: a database that stops answering must fail a connect or a statement within a
// bounded time, not hold a writer, a query worker (and a graceful stop) for the kernel's TCP
// timeouts of many minutes.
#include <string>

namespace fls {

// `uri`, a postgresql:// (or postgres://) URI or a key=value connection string, with the
// policy's defaults for what it does not set itself: connect_timeout 10 s, TCP keepalives after
// 30 s idle, every 10 s, 3 unanswered probes, and tcp_user_timeout 30 s. The URI's own values
// win. A string libpq cannot parse is returned unchanged, so connecting reports libpq's error.
std::string with_connection_policy(const std::string& uri);

}  // namespace fls
