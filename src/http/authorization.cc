#include "fls/http/authorization.h"

#include <strings.h>

namespace fls {

BearerCredentials bearer_credentials(const HttpRequest& request) {
  BearerCredentials out;
  const std::string* value = nullptr;
  for (const auto& [name, field] : request.headers) {
    if (strcasecmp(name.c_str(), "Authorization") != 0) continue;
    if (value != nullptr) return {BearerCredentials::Status::repeated, {}};
    value = &field;
  }
  if (value == nullptr) return out;
  constexpr std::size_t kScheme = 6;  // "Bearer"
  const std::string& text = *value;
  std::size_t start = kScheme;
  if (text.size() <= kScheme || strncasecmp(text.c_str(), "Bearer", kScheme) != 0 || text[kScheme] != ' ') {
    return {BearerCredentials::Status::malformed, {}};
  }
  while (start < text.size() && text[start] == ' ') ++start;
  std::size_t end = text.size();
  while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  if (start == end || text.find_first_of(" \t", start) < end) return {BearerCredentials::Status::malformed, {}};
  out.status = BearerCredentials::Status::ok;
  out.token = text.substr(start, end - start);
  return out;
}

}  // namespace fls
