#pragma once
// Everything fls-kms reads from its environment (protocol.md §7).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "fls/common/secret_bytes.h"
#include "fls/config/env.h"

namespace fls {

struct KmsConfig {
  std::uint16_t port;                      // KMS_PORT
  std::string bind_address;                // KMS_BIND_ADDRESS
  std::string database_uri;                // KMS_DATABASE_URI (required)
  std::optional<SecretBytes> master_key;   // KMS_MASTER_KEY, 32 bytes (required unless dev mode)
  std::optional<std::string> admin_token;  // KMS_ADMIN_TOKEN (required unless dev mode)
  bool dev_mode;                           // KMS_DEV_MODE
  std::optional<std::string> tls_cert;     // KMS_TLS_CERT
  std::optional<std::string> tls_key;      // KMS_TLS_KEY
  std::chrono::milliseconds inquiry_timeout;  // KMS_INQUIRY_TIMEOUT
  std::string log_level;                   // KMS_LOG_LEVEL
  std::string log_format;                  // KMS_LOG_FORMAT: text or json
};

// Throws ConfigError naming the first variable that is missing or malformed.
KmsConfig load_kms_config(const EnvReader& env);

}  // namespace fls
