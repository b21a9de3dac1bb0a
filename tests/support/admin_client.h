#pragma once
// Plain HTTP requests to a server on 127.0.0.1, for the KMS admin API and health endpoints.
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

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = {}, const std::string& bearer_token = {});

}  // namespace fls::test
