// fls-kms: the central KMS. Reads the KMS_* environment, migrates its database, and serves the
// /sidecar WebSocket and the admin API on one port until SIGTERM or SIGINT.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <future>
#include <iostream>
#include <thread>

#include "fls/common/ids.h"
#include "fls/common/logging.h"
#include "fls/common/process_hardening.h"
#include "fls/common/tls_policy.h"
#include "fls/common/version.h"
#include "fls/config/command_line.h"
#include "fls/config/kms_config.h"
#include "fls/http/http_server.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_service.h"
#include "fls/kms_server/pg_kms_store.h"
#include "fls/pg/migrator.h"

namespace {

constexpr const char* kUsage = R"(Usage: fls-kms [migrate | --help | --version]

The central KMS for forensic logging sidecars: registers sidecars and hands out their keys,
records batch signatures, runs health checks and inquiries, and verifies what sidecars return.
The /sidecar WebSocket and the admin API share KMS_PORT (default 8080).

  migrate     apply the database migrations and exit
  --help      show this text
  --version   show the version

Configuration comes from the environment: KMS_DATABASE_URI is required, and so are
KMS_MASTER_KEY (64 hex digits) and KMS_ADMIN_TOKEN unless KMS_DEV_MODE=true. Optional:
KMS_PORT, KMS_BIND_ADDRESS, KMS_TLS_CERT and KMS_TLS_KEY, KMS_INQUIRY_TIMEOUT, KMS_LOG_LEVEL,
KMS_AUDITOR_TOKEN, KMS_REGISTRATION and the limits listed in the README.
)";

}  // namespace

int main(int argc, char** argv) {
  fls::KmsConfig config;
  const auto start = fls::start_up(argc, argv, "fls-kms", kUsage,
                                   [&](const fls::EnvReader& env) { config = fls::load_kms_config(env); });
  if (start.exit_code) return *start.exit_code;
  fls::init_logging(config.log_level, config.log_format);
  // Buffers of a MiB and more (large WebSocket messages, inquiry bodies) are mapped and unmapped
  // on their own: with glibc's default, the threshold rises after the first such free and later
  // ones stay in the heap, so one large message would keep the process large.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  if (!fls::harden_process(config.debug_core_dumps, "KMS_DEBUG_CORE_DUMPS")) return 1;
  if (config.registration == fls::RegistrationMode::open) {
    spdlog::warn(
        "*** KMS_REGISTRATION=open: anyone who reaches this port can register as any service and put "
        "batches into its inquiries; set KMS_REGISTRATION=token once every sidecar has SIDE_KMS__TOKEN ***");
  }
  if (config.dev_mode) {
    spdlog::warn("*** KMS_DEV_MODE=true: {}{}not for production ***",
                 config.master_key ? "" : "keys are sealed with a publicly known development key; ",
                 config.admin_token ? "" : "the admin API needs no token; ");
  }

  try {
    fls::migrate_with_retry(config.database_uri, "kms_schema_migrations", fls::migrations::kms());
    if (start.migrate_only) return 0;
    const fls::kms::KeyVault vault(std::move(config.master_key));
    if (!fls::kms::master_key_opens_stored_keys(config.database_uri, vault)) {
      std::cerr << "configuration error: KMS_MASTER_KEY cannot open the keys stored in the database\n";
      return 2;
    }
    if (const auto n = fls::kms::terminate_open_registrations(config.database_uri); n != 0) {
      spdlog::info("{} sidecar(s) still open from the previous run marked terminated", n);
    }

    boost::asio::io_context io;
    std::optional<boost::asio::ssl::context> tls;
    if (config.tls_cert) tls.emplace(fls::make_server_tls_context(*config.tls_cert, *config.tls_key));
    fls::SystemClock clock;
    auto ids = fls::make_random_id_source();
    auto keys = fls::kms::make_random_key_source();
    fls::QueryWorker db(config.database_uri);
    fls::kms::InquiryResponseLanes verifiers(io, config.database_uri, config.inquiry_verifiers, vault);
    fls::kms::PgKmsStore store(io, db, verifiers);
    fls::kms::KmsServiceOptions service_options;
    service_options.admin_token = config.admin_token;
    service_options.auditor_token = config.auditor_token;
    service_options.inquiry_timeout = config.inquiry_timeout;
    service_options.max_inquiries = config.max_inquiries;
    service_options.registration = config.registration;
    service_options.registration_limits = {config.max_registrations_per_credential, config.max_registrations};
    service_options.max_message_size = config.max_message_size;
    service_options.registration_timeout = config.registration_timeout;
    service_options.registration_retention = config.registration_retention;
    auto service =
        std::make_shared<fls::kms::KmsService>(io, store, vault, *keys, clock, *ids, std::move(service_options));

    fls::HttpServerOptions options;
    options.bind_address = config.bind_address;
    options.port = config.port;
    options.tls = tls ? &*tls : nullptr;
    options.websocket_path = "/sidecar";
    // Until a sidecar has registered, its messages are a register or a challenge: small.
    options.max_websocket_message = config.max_unregistered_message_size;
    options.max_connections = config.max_connections;
    options.websocket_factory = [service](const fls::HttpRequest& request, fls::HttpResponse& refusal) {
      return service->accept_sidecar(request, refusal);
    };
    fls::HttpServer server(io, options, [service](const fls::HttpRequest& request, fls::HttpRespond respond) {
      service->handle_http(request, std::move(respond));
    });
    server.start();
    db.start();
    verifiers.start();
    service->start();
    spdlog::info("fls-kms {} serving {}://{}:{}/sidecar and the admin API", fls::kVersion, tls ? "wss" : "ws",
                 config.bind_address, server.port());

    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code, int signal) {
      spdlog::info("received {}, stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      server.stop();
      service->close_all();
      // Give the closes and the database writes they cause a moment, then stop.
      auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(500));
      timer->async_wait([&io, timer](boost::system::error_code) { io.stop(); });
    });
    std::thread io_thread([&io] { io.run(); });
    io_thread.join();
    verifiers.stop();
    db.stop(/*finish_queued=*/true);
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
