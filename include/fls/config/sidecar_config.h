#pragma once
// Everything the sidecar reads from its environment (protocol.md §6 plus the product's additions).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fls/config/env.h"
#include "fls/config/kms_url.h"

namespace fls {

struct SidecarConfig {
  std::string database_uri;                   // SIDE_DATABASE_URI (required)
  std::string service_name;                   // SIDE_SERVICE
  std::string bind_address;                   // SIDE_BIND_ADDRESS
  std::uint16_t port;                         // SIDE_PORT
  std::uint16_t health_port;                  // SIDE_HEALTH_PORT
  std::size_t batch_size;                     // SIDE_BATCH_SIZE
  std::chrono::milliseconds batch_interval;   // SIDE_BATCH_TIME_INTERVAL
  std::size_t max_message_size;               // SIDE_MAX_MESSAGE_SIZE, bytes of one frame's payload
  std::size_t max_queued_bytes;               // SIDE_MAX_QUEUED_BYTES, read but not yet stored, partial frames included
  std::chrono::milliseconds frame_timeout;    // SIDE_FRAME_TIMEOUT, a partial frame's longest silence; 0: none
  std::size_t max_connections;                // SIDE_MAX_CONNECTIONS
  std::size_t store_max_rows;                 // SIDE_STORE_MAX_ROWS, rows per transaction
  std::size_t store_connections;              // SIDE_STORE_CONNECTIONS, sessions committing side by side
  std::chrono::milliseconds store_max_delay;  // SIDE_STORE_MAX_DELAY, longest wait for a group to fill
  std::chrono::milliseconds shutdown_timeout;  // SIDE_SHUTDOWN_TIMEOUT
  std::string log_level;                       // SIDE_LOG_LEVEL
  std::string log_format;                      // SIDE_LOG_FORMAT: text or json
  bool debug_core_dumps;                       // SIDE_DEBUG_CORE_DUMPS: leave the process dumpable

  std::string kms_url_text;  // SIDE_KMS__URL, as given
  KmsUrl kms_url;
  std::optional<std::string> kms_ca_file;            // SIDE_KMS__CA_FILE, PEM bundle for wss://
  std::optional<std::string> kms_token;              // SIDE_KMS__TOKEN, the KMS credential (never logged)
  std::chrono::milliseconds kms_ping_interval;       // SIDE_KMS__PING_INTERVAL
  std::chrono::milliseconds kms_request_timeout;     // SIDE_KMS__REQUEST_TIMEOUT
  std::chrono::milliseconds kms_connect_timeout;     // SIDE_KMS__CONNECT_TIMEOUT
  std::chrono::milliseconds kms_reconnect_interval;  // SIDE_KMS__RECONNECT_INTERVAL
};

// Throws ConfigError naming the first variable that is missing or malformed.
SidecarConfig load_sidecar_config(const EnvReader& env);

}  // namespace fls
