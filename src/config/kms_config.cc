#include "fls/config/kms_config.h"

namespace fls {

KmsConfig load_kms_config(const EnvReader& env) {
  KmsConfig c;
  c.port = env.port("KMS_PORT", 8080);
  c.bind_address = env.text("KMS_BIND_ADDRESS", "0.0.0.0");
  c.database_uri = env.required_text("KMS_DATABASE_URI");
  c.dev_mode = env.boolean("KMS_DEV_MODE", false);
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
  c.tls_cert = env.optional_text("KMS_TLS_CERT");
  c.tls_key = env.optional_text("KMS_TLS_KEY");
  if (c.tls_cert.has_value() != c.tls_key.has_value()) {
    throw ConfigError(std::string(c.tls_cert ? "KMS_TLS_KEY" : "KMS_TLS_CERT") +
                      " must be set together with " + (c.tls_cert ? "KMS_TLS_CERT" : "KMS_TLS_KEY"));
  }
  c.inquiry_timeout = env.millis("KMS_INQUIRY_TIMEOUT", 60'000);
  env.log_settings("KMS", c.log_level, c.log_format);
  return c;
}

}  // namespace fls
