#include "fls/sidecar/sidecar_app.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <pqxx/connection>

#include "fls/common/prometheus.h"

namespace fls {

namespace asio = boost::asio;

namespace {
// The health endpoint takes no request bodies worth more than a few KiB.
HttpServerOptions health_http_options(const SidecarConfig& config) {
  HttpServerOptions options;
  options.bind_address = config.bind_address;
  options.port = config.health_port;
  options.max_body_size = 64 << 10;
  return options;
}
}  // namespace

SidecarApp::SidecarApp(SidecarConfig config)
    : config_(std::move(config)),
      ids_(make_random_id_source()),
      tls_(config_.kms_url.tls
               ? std::optional(make_client_tls_context(config_.kms_ca_file ? &*config_.kms_ca_file : nullptr))
               : std::nullopt),
      queue_(config_.max_queued_bytes),
      repository_(config_.database_uri),
      query_worker_(config_.database_uri),
      inquiry_reader_(config_.service_name),
      intake_(io_, queue_, clock_,
              IntakeOptions{config_.bind_address, config_.port, config_.max_message_size, config_.max_connections,
                            config_.frame_timeout}),
      http_(io_, health_http_options(config_),
            [this](const HttpRequest& request, const HttpRespond& respond) { respond(handle_http(request)); }) {
  KmsClientOptions kms;
  kms.url = config_.kms_url;
  kms.url_text = config_.kms_url_text;
  kms.service_name = config_.service_name;
  kms.ping_interval = config_.kms_ping_interval;
  kms.request_timeout = config_.kms_request_timeout;
  kms.connect_timeout = config_.kms_connect_timeout;
  kms.reconnect_interval = config_.kms_reconnect_interval;
  WsOptions ws;
  ws.url = config_.kms_url;
  if (config_.kms_token) ws.bearer_token = *config_.kms_token;
  kms_ = std::make_shared<KmsClient>(
      io_,
      [this, ws](WsEvents events) { return make_ws_transport(io_, tls_ ? &*tls_ : nullptr, ws, std::move(events)); },
      clock_, *ids_, *this, kms);

  EventWriterOptions writer;
  writer.service_name = config_.service_name;
  writer.batch_size = config_.batch_size;
  writer.batch_interval = config_.batch_interval;
  writer.max_rows_per_commit = config_.store_max_rows;
  writer.committer_lanes = config_.store_connections;
  writer.max_commit_delay = config_.store_max_delay;
  writer_ = std::make_unique<EventWriter>(repository_, queue_, clock_, *ids_, *kms_, writer);
}

SidecarApp::~SidecarApp() {
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  writer_.reset();  // before the intake it may still call back into (an abandoned commit finishing)
}

void SidecarApp::start() {
  intake_.start();
  http_.start();
  intake_port_ = intake_.port();
  http_port_ = http_.port();
  query_worker_.start();
  writer_->start();
  kms_->start();
  io_thread_ = std::thread([this] { io_.run(); });
}

namespace {
const char* signal_name(int signal) { return signal == SIGTERM ? "SIGTERM" : "SIGINT"; }
}  // namespace

void SidecarApp::wait_for_signal() {
  signals_.emplace(io_, SIGTERM, SIGINT);
  std::promise<int> received;
  signals_->async_wait([&](boost::system::error_code ec, int signal) { received.set_value(ec ? 0 : signal); });
  const int signal = received.get_future().get();
  spdlog::info("received {}, stopping", signal_name(signal));
  asio::post(io_, [this] { ignore_repeated_signals(); });  // the set belongs to the I/O thread
}

// A repeated SIGTERM or Ctrl-C must not cut the graceful stop short and lose what was read:
// SIDE_SHUTDOWN_TIMEOUT bounds the stop, and SIGKILL still ends it at once.
void SidecarApp::ignore_repeated_signals() {
  signals_->async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::warn("received {} again: already stopping, within SIDE_SHUTDOWN_TIMEOUT ({} ms)", signal_name(signal),
                 config_.shutdown_timeout.count());
    ignore_repeated_signals();
  });
}

bool SidecarApp::stop(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Clients' frames can only be read and stored once the sidecar has keys: give a registration
  // in progress half the time to complete.
  if (!queue_.wait_open(std::chrono::steady_clock::now() + timeout / 2)) {
    spdlog::error("stopping before the first registration with the KMS: what clients sent is left unread");
  }
  // The intake's last reads happen on the I/O thread; drain only once they are queued.
  auto intake_stopped = std::make_shared<std::promise<void>>();
  asio::post(io_, [this, intake_stopped] {
    intake_.stop();
    http_.stop();
    intake_stopped->set_value();
  });
  intake_stopped->get_future().wait_until(deadline);
  // Store what was read and close the last batch; let the KMS acknowledge what it can in the
  // time left, so the next start has little to re-send; then commit those acknowledgements.
  const bool stored = writer_->drain(deadline);
  if (stored) {
    // The KMS may use the time left but a moment, which is kept for recording what it
    // acknowledged.
    const auto kms_deadline =
        deadline - std::min<std::chrono::steady_clock::duration>(timeout / 10, std::chrono::seconds(1));
    auto delivered = std::make_shared<std::promise<void>>();
    kms_->when_delivered([delivered] { delivered->set_value(); });
    if (delivered->get_future().wait_until(kms_deadline) != std::future_status::ready) {
      spdlog::warn("stopping: the KMS did not acknowledge every batch in time; they are sent again at the next start");
    }
  }
  const bool finished = writer_->stop(deadline);
  if (!stored) {
    spdlog::error("stopping: the database did not take the last received messages in time");
  } else if (!finished) {
    spdlog::warn(
        "stopping: the last acknowledgements were not recorded in time; those batches are sent again at "
        "the next start");
  }
  kms_->stop();
  query_worker_.stop();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  return stored;
}

void SidecarApp::registered(Registration registration) { writer_->use_registration(std::move(registration)); }

void SidecarApp::acknowledged(std::string batch_id) { writer_->acknowledge(std::move(batch_id)); }

std::uint64_t SidecarApp::events_last_hour() { return writer_->events_last_hour(); }

void SidecarApp::answer_inquiry(InquiryRequest request, std::shared_ptr<InquiryReplies> replies) {
  query_worker_.post("inquiry " + request.inquiry_id, [this, request, replies](pqxx::connection& connection) {
    const auto result =
        inquiry_reader_.read(connection, request.start, request.end,
                             [&](std::size_t total, std::size_t first_item, std::vector<InquiryBatch> batches) {
                               std::vector<InquiryItem> items;
                               items.reserve(batches.size());
                               for (auto& batch : batches)
                                 items.push_back(InquiryItem{std::move(batch.batch_id), std::move(batch.body)});
                               return replies->send(total, first_item, std::move(items));
                             });
    if (result.total == 0) return;
    if (result.refused) {
      spdlog::warn("inquiry {}: the KMS connection closed after {} of {} batches", request.inquiry_id, result.sent,
                   result.total);
      return;
    }
    spdlog::info("inquiry {}: sent {} batch(es)", request.inquiry_id, result.total);
  });
}

HttpResponse SidecarApp::handle_http(const HttpRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (request.method != "GET") return json_response(405, R"({"code":40500,"message":"Only GET is served here"})");
  if (path == "/health") return json_response(200, R"({"status":"OK"})");
  if (path == "/ready") return readiness();
  if (path == "/metrics") return metrics();
  return json_response(404, R"({"code":40400,"message":"Not found"})");
}

HttpResponse SidecarApp::readiness() const {
  const auto writer = writer_->stats();
  const auto kms = kms_->status();
  nlohmann::json reasons = nlohmann::json::array();
  if (!writer.database_ok) reasons.push_back("the database is not accepting writes");
  if (!kms.registered) reasons.push_back(kms.connected ? "registering with the KMS" : "not connected to the KMS");
  if (reasons.empty()) return json_response(200, R"({"status":"ready"})");
  return json_response(503, nlohmann::json{{"status", "not ready"}, {"reasons", reasons}}.dump());
}

HttpResponse SidecarApp::metrics() const {
  const auto writer = writer_->stats();
  const auto kms = kms_->status();
  const auto& intake = intake_.stats();
  PrometheusText out;
  out.counter("fls_sidecar_messages_received_total", "Frames received from clients.", intake.messages);
  out.counter("fls_sidecar_received_bytes_total", "Payload bytes received from clients.", intake.bytes);
  out.counter("fls_sidecar_protocol_errors_total", "Client connections closed for a bad frame.",
              intake.protocol_errors);
  out.gauge("fls_sidecar_client_connections", "Open client connections.", intake_.open_connections());
  out.counter("fls_sidecar_client_connections_rejected_total", "Connections refused at SIDE_MAX_CONNECTIONS.",
              intake.connections_rejected);
  out.gauge("fls_sidecar_queued_bytes", "Payload bytes read but not yet committed.", queue_.held_bytes());
  out.counter("fls_sidecar_events_stored_total", "Events committed to the database.", writer.events_stored);
  out.counter("fls_sidecar_batches_created_total", "Batches closed and signed.", writer.batches_closed);
  out.counter("fls_sidecar_batches_acknowledged_total", "Batches the KMS confirmed.", writer.batches_acknowledged);
  out.gauge("fls_sidecar_batches_pending", "Batches handed to the KMS link and not yet acknowledged.",
            kms.batches_waiting);
  out.counter("fls_sidecar_database_errors_total", "Failed commits (each retried).", writer.commit_failures);
  out.histogram("fls_sidecar_store_commit_seconds", "Time to commit one group of events.", LatencyHistogram::bounds(),
                writer.commit_seconds.buckets, writer.commit_seconds.sum, writer.commit_seconds.count);
  out.gauge("fls_sidecar_kms_connected", "1 while the KMS WebSocket is open.", kms.connected ? 1 : 0);
  out.gauge("fls_sidecar_kms_registered", "1 while registered with the KMS.", kms.registered ? 1 : 0);
  out.counter("fls_sidecar_kms_reconnects_total", "KMS connections lost.", kms.reconnects);
  return metrics_response(out.text());
}

}  // namespace fls
