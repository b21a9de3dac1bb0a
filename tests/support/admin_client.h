#pragma once
// Plain HTTP requests to a server on 127.0.0.1, for the KMS admin API and health endpoints.
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace fls::test {

struct HttpResult {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// Throws boost::system::system_error when there is no complete answer within `timeout`.
// `max_body`: the largest response body taken (a large inquiry verdict can be hundreds of MB).
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = {}, const std::string& bearer_token = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                        std::uint64_t max_body = 64u << 20);

}  // namespace fls::test
