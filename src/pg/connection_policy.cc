#include "fls/pg/connection_policy.h"

#include <libpq-fe.h>

#include <cstring>
#include <memory>
#include <string_view>

namespace fls {
namespace {

struct Default {
  const char* keyword;
  const char* value;
};
constexpr Default kDefaults[] = {{"connect_timeout", "10"},
                                 {"keepalives_idle", "30"},
                                 {"keepalives_interval", "10"},
                                 {"keepalives_count", "3"},
                                 {"tcp_user_timeout", "30000"}};

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Where the options after the URI's '?' begin, npos if it has none. As in libpq, a '?' in the
// user:password part (before the '@', which comes before any '/') does not start them.
std::size_t query_start(const std::string& uri, std::size_t prefix_size) {
  std::size_t from = prefix_size;
  const std::size_t at = uri.find_first_of("@/", from);
  if (at != std::string::npos && uri[at] == '@') from = at + 1;
  return uri.find('?', from);
}

}  // namespace

std::string with_connection_policy(const std::string& uri) {
  char* error = nullptr;
  const std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(PQconninfoParse(uri.c_str(), &error),
                                                                               PQconninfoFree);
  if (!options) {
    PQfreemem(error);  // may quote the string, password and all: not for the logs
    return uri;
  }
  const auto is_set = [&](const char* keyword) {
    for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
      if (std::strcmp(o->keyword, keyword) == 0) return o->val != nullptr;
    }
    return false;
  };

  std::size_t prefix_size = 0;
  if (starts_with(uri, "postgresql://")) {
    prefix_size = std::strlen("postgresql://");
  } else if (starts_with(uri, "postgres://")) {
    prefix_size = std::strlen("postgres://");
  }
  if (prefix_size == 0) {
    // key=value: the defaults go first, where a later value for the same keyword (the
    // string's own) replaces them, and nothing at the string's end can run into them.
    std::string out;
    for (const auto& d : kDefaults) {
      if (!is_set(d.keyword)) out.append(d.keyword).append("=").append(d.value).append(" ");
    }
    if (uri.empty() && !out.empty()) out.pop_back();
    return out + uri;
  }
  std::string out = uri;
  bool first = query_start(uri, prefix_size) == std::string::npos;
  for (const auto& d : kDefaults) {
    if (is_set(d.keyword)) continue;
    if (first) {
      out += '?';
    } else if (out.back() != '?' && out.back() != '&') {
      out += '&';
    }
    first = false;
    out.append(d.keyword).append("=").append(d.value);
  }
  return out;
}

}  // namespace fls
