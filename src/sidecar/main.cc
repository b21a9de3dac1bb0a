// forensic-logging-sidecar: reads the SIDE_* environment, migrates the database, and runs
// until SIGTERM or SIGINT.
#include <spdlog/spdlog.h>

#include <pqxx/connection>

#include "fls/common/logging.h"
#include "fls/common/process_hardening.h"
#include "fls/common/version.h"
#include "fls/config/command_line.h"
#include "fls/config/sidecar_config.h"
#include "fls/pg/migrator.h"
#include "fls/sidecar/sidecar_app.h"

namespace {

constexpr const char* kUsage = R"(Usage: forensic-logging-sidecar [migrate | --help | --version]

Receives audit messages over TCP (4-byte big-endian length, then the payload), stores each
in PostgreSQL with an AES-CMAC row signature, groups them into ed25519-signed batches and
relays every batch signature to the central KMS.

  migrate     apply the database migrations and exit
  --help      show this text
  --version   show the version

Configuration comes from the environment; SIDE_DATABASE_URI is required. The README lists
every variable with its default (SIDE_PORT, SIDE_HEALTH_PORT, SIDE_SERVICE, SIDE_KMS__URL, ...).
)";

}  // namespace

int main(int argc, char** argv) {
  fls::SidecarConfig config;
  const auto start = fls::start_up(argc, argv, "forensic-logging-sidecar", kUsage,
                                   [&](const fls::EnvReader& env) { config = fls::load_sidecar_config(env); });
  if (start.exit_code) return *start.exit_code;
  fls::init_logging(config.log_level, config.log_format);
  if (!fls::harden_process(config.debug_core_dumps, "SIDE_DEBUG_CORE_DUMPS")) return 1;

  try {
    fls::migrate_with_retry(config.database_uri, "sidecar_schema_migrations", fls::migrations::sidecar());
    if (start.migrate_only) return 0;

    spdlog::info("forensic-logging-sidecar {} for service {}: intake port {}, health port {}, KMS {}", fls::kVersion,
                 config.service_name, config.port, config.health_port, config.kms_url_text);
    fls::SidecarApp app(config);
    app.start();
    app.wait_for_signal();
    return app.stop(config.shutdown_timeout) ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
