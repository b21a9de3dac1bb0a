#include "fls/config/kms_config.h"

#include <algorithm>
#include <thread>

namespace fls {

KmsConfig load_kms_config(const EnvReader& env) {
  KmsConfig c;
  c.port = env.port("KMS_PORT", 8080);
  c.bind_address = env.text("KMS_BIND_ADDRESS", "0.0.0.0");
  c.database_uri = env.required_text("KMS_DATABASE_URI");
  c.dev_mode = env.boolean("KMS_DEV_MODE", false);
  c.debug_core_dumps = env.boolean("KMS_DEBUG_CORE_DUMPS", false);
  if (const auto key = env.optional_text("KMS_MASTER_KEY")) {
    c.master_key = SecretBytes::from_hex(*key, 32);
    // The value itself is a secret: the message gives its length only.
    if (!c.master_key) {
      throw ConfigError("KMS_MASTER_KEY must be 64 hexadecimal digits, got " + std::to_string(key->size()) +
                        " characters");
    }
  } else if (!c.dev_mode) {
    throw ConfigError("KMS_MASTER_KEY is required (64 hex digits) unless KMS_DEV_MODE=true");
  }
  c.admin_token = env.optional_text("KMS_ADMIN_TOKEN");
  if (!c.admin_token && !c.dev_mode) {
    throw ConfigError("KMS_ADMIN_TOKEN is required unless KMS_DEV_MODE=true");
  }
  c.auditor_token = env.optional_text("KMS_AUDITOR_TOKEN");
  for (const auto* token : {&c.admin_token, &c.auditor_token}) {
    // Tokens are compared by hash, so any length works; a short one is guessable.
    if (*token && (*token)->size() < 16) {
      throw ConfigError(std::string(token == &c.admin_token ? "KMS_ADMIN_TOKEN" : "KMS_AUDITOR_TOKEN") +
                        " must be at least 16 characters, got " + std::to_string((*token)->size()));
    }
  }
  if (c.auditor_token && c.admin_token && *c.auditor_token == *c.admin_token) {
    throw ConfigError("KMS_AUDITOR_TOKEN must differ from KMS_ADMIN_TOKEN");
  }
  const std::string registration = env.text("KMS_REGISTRATION", c.dev_mode ? "open" : "token");
  if (registration == "open") {
    c.registration = RegistrationMode::open;
  } else if (registration == "token") {
    c.registration = RegistrationMode::token;
  } else {
    throw ConfigError("KMS_REGISTRATION must be open or token, got '" + registration + "'");
  }
  c.max_connections = static_cast<std::size_t>(env.integer("KMS_MAX_CONNECTIONS", 1024, 1, 1'000'000));
  c.max_message_size = static_cast<std::size_t>(env.integer("KMS_MAX_MESSAGE_SIZE", 16 << 20, 1024, 1LL << 30));
  c.max_unregistered_message_size =
      static_cast<std::size_t>(env.integer("KMS_MAX_UNREGISTERED_MESSAGE_SIZE", 16 << 10, 1024, 1LL << 30));
  c.registration_timeout = env.millis("KMS_REGISTRATION_TIMEOUT", 30'000);
  c.max_registrations = static_cast<std::size_t>(env.integer("KMS_MAX_REGISTRATIONS", 10'000, 1, 10'000'000));
  c.max_registrations_per_credential =
      static_cast<std::size_t>(env.integer("KMS_MAX_REGISTRATIONS_PER_CREDENTIAL", 100, 1, 10'000'000));
  c.registration_retention = env.millis("KMS_REGISTRATION_RETENTION", 7LL * 24 * 3600 * 1000);
  c.tls_cert = env.optional_text("KMS_TLS_CERT");
  c.tls_key = env.optional_text("KMS_TLS_KEY");
  if (c.tls_cert.has_value() != c.tls_key.has_value()) {
    throw ConfigError(std::string(c.tls_cert ? "KMS_TLS_KEY" : "KMS_TLS_CERT") + " must be set together with " +
                      (c.tls_cert ? "KMS_TLS_CERT" : "KMS_TLS_KEY"));
  }
  c.inquiry_timeout = env.millis("KMS_INQUIRY_TIMEOUT", 60'000);
  c.max_inquiries = static_cast<std::size_t>(env.integer("KMS_MAX_INQUIRIES", 4, 1, 1000));
  // One per core by default: verification is what an inquiry spends its CPU on.
  const auto cores = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  c.inquiry_verifiers =
      static_cast<std::size_t>(env.integer("KMS_INQUIRY_VERIFIERS", std::min<std::int64_t>(cores, 64), 1, 64));
  env.log_settings("KMS", c.log_level, c.log_format);
  return c;
}

}  // namespace fls
