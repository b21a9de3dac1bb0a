#pragma once
// The credentials a request carries in its Authorization header (RFC 6750 bearer tokens).
#include <string>

#include "fls/http/http_server.h"

namespace fls {

struct BearerCredentials {
  enum class Status {
    absent,     // no Authorization header
    ok,         // one header, scheme "Bearer" (any case, RFC 7235), a non-empty token
    malformed,  // another scheme, or no token
    repeated,   // more than one Authorization header: refused, never guessed between
  };
  Status status = Status::absent;
  std::string token;  // set when ok
};

BearerCredentials bearer_credentials(const HttpRequest& request);

}  // namespace fls
