#pragma once
// The KMS WebSocket address (SIDE_KMS__URL).
#include <cstdint>
#include <optional>
#include <string>

namespace fls {

struct KmsUrl {
  bool tls = false;  // wss://
  std::string host;
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
};

// Accepts ws://host[:port][/path] and wss://…; IPv6 hosts in brackets. nullopt otherwise.
std::optional<KmsUrl> parse_kms_url(const std::string& url);

}  // namespace fls
