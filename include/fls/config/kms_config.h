#pragma once
// Everything fls-kms reads from its environment (protocol.md §7).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "fls/common/secret_bytes.h"
#include "fls/config/env.h"

namespace fls {

// Who may register (KMS_REGISTRATION).
enum class RegistrationMode {
  open,   // anyone; a credential, when presented, is still checked and scopes the registration
  token,  // only with a valid credential for the service (Authorization: Bearer on the upgrade)
};

struct KmsConfig {
  std::uint16_t port;                                // KMS_PORT
  std::string bind_address;                          // KMS_BIND_ADDRESS
  std::string database_uri;                          // KMS_DATABASE_URI (required)
  std::optional<SecretBytes> master_key;             // KMS_MASTER_KEY, 32 bytes (required unless dev mode)
  std::optional<std::string> admin_token;            // KMS_ADMIN_TOKEN (required unless dev mode)
  std::optional<std::string> auditor_token;          // KMS_AUDITOR_TOKEN: read and start inquiries only
  RegistrationMode registration;                     // KMS_REGISTRATION (token; open in dev mode)
  std::size_t max_connections;                       // KMS_MAX_CONNECTIONS
  std::size_t max_message_size;                      // KMS_MAX_MESSAGE_SIZE, registered sidecars
  std::size_t max_unregistered_message_size;         // KMS_MAX_UNREGISTERED_MESSAGE_SIZE
  std::chrono::milliseconds registration_timeout;    // KMS_REGISTRATION_TIMEOUT
  std::size_t max_registrations;                     // KMS_MAX_REGISTRATIONS, open at once
  std::size_t max_registrations_per_credential;      // KMS_MAX_REGISTRATIONS_PER_CREDENTIAL
  std::chrono::milliseconds registration_retention;  // KMS_REGISTRATION_RETENTION
  bool dev_mode;                                     // KMS_DEV_MODE
  bool debug_core_dumps;                             // KMS_DEBUG_CORE_DUMPS: leave the process dumpable
  std::optional<std::string> tls_cert;               // KMS_TLS_CERT
  std::optional<std::string> tls_key;                // KMS_TLS_KEY
  std::chrono::milliseconds inquiry_timeout;         // KMS_INQUIRY_TIMEOUT
  std::size_t max_inquiries;                         // KMS_MAX_INQUIRIES, in progress at once
  std::size_t inquiry_verifiers;                     // KMS_INQUIRY_VERIFIERS, threads
  std::string log_level;                             // KMS_LOG_LEVEL
  std::string log_format;                            // KMS_LOG_FORMAT: text or json
};

// Throws ConfigError naming the first variable that is missing or malformed.
KmsConfig load_kms_config(const EnvReader& env);

}  // namespace fls
