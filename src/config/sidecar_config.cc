#include "fls/config/sidecar_config.h"

namespace fls {

SidecarConfig load_sidecar_config(const EnvReader& env) {
  SidecarConfig c;
  c.database_uri = env.required_text("SIDE_DATABASE_URI");
  c.service_name = env.text("SIDE_SERVICE", "TestService");
  c.bind_address = env.text("SIDE_BIND_ADDRESS", "0.0.0.0");
  c.port = env.port("SIDE_PORT", 5678);
  c.health_port = env.port("SIDE_HEALTH_PORT", 6789);
  c.batch_size = static_cast<std::size_t>(env.integer("SIDE_BATCH_SIZE", 64, 1, 100'000));
  c.batch_interval = env.millis("SIDE_BATCH_TIME_INTERVAL", 300'000);
  c.max_message_size = static_cast<std::size_t>(env.integer("SIDE_MAX_MESSAGE_SIZE", 1 << 20, 1, 256LL << 20));
  c.max_queued_bytes = static_cast<std::size_t>(env.integer("SIDE_MAX_QUEUED_BYTES", 8 << 20, 64 << 10, 16LL << 30));
  c.frame_timeout = std::chrono::milliseconds(env.integer("SIDE_FRAME_TIMEOUT", 30'000, 0, 24LL * 3600 * 1000));
  c.max_connections = static_cast<std::size_t>(env.integer("SIDE_MAX_CONNECTIONS", 1024, 1, 1'000'000));
  c.store_max_rows = static_cast<std::size_t>(env.integer("SIDE_STORE_MAX_ROWS", 4096, 1, 1'000'000));
  c.store_connections = static_cast<std::size_t>(env.integer("SIDE_STORE_CONNECTIONS", 2, 1, 16));
  c.store_max_delay = std::chrono::milliseconds(env.integer("SIDE_STORE_MAX_DELAY", 0, 0, 60'000));
  c.shutdown_timeout = env.millis("SIDE_SHUTDOWN_TIMEOUT", 20'000);
  env.log_settings("SIDE", c.log_level, c.log_format);
  c.debug_core_dumps = env.boolean("SIDE_DEBUG_CORE_DUMPS", false);

  c.kms_url_text = env.text("SIDE_KMS__URL", "ws://localhost:8080/sidecar");
  const auto url = parse_kms_url(c.kms_url_text);
  if (!url) {
    throw ConfigError("SIDE_KMS__URL must be a ws:// or wss:// URL, got '" + c.kms_url_text + "'");
  }
  c.kms_url = *url;
  c.kms_ca_file = env.optional_text("SIDE_KMS__CA_FILE");
  c.kms_token = env.optional_text("SIDE_KMS__TOKEN");
  // It goes into an HTTP header: a character that would end or split the header is refused.
  if (c.kms_token && (c.kms_token->empty() || c.kms_token->find_first_of(" \t\r\n") != std::string::npos)) {
    throw ConfigError("SIDE_KMS__TOKEN must be a non-empty token without spaces or line breaks (" +
                      std::to_string(c.kms_token->size()) + " characters given)");
  }
  c.kms_ping_interval = env.millis("SIDE_KMS__PING_INTERVAL", 30'000);
  c.kms_request_timeout = env.millis("SIDE_KMS__REQUEST_TIMEOUT", 120'000);
  c.kms_connect_timeout = env.millis("SIDE_KMS__CONNECT_TIMEOUT", 60'000);
  c.kms_reconnect_interval = env.millis("SIDE_KMS__RECONNECT_INTERVAL", 5'000);
  return c;
}

}  // namespace fls
