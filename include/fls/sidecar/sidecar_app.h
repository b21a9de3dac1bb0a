#pragma once
// Wires the sidecar's units together: intake → queue → event writer → PostgreSQL, the KMS link,
// the query worker with the inquiry reader, and the health endpoint. A library, so that tests
// can run the sidecar in their own process: with ports 0 in the configuration the kernel picks
// free ones, and intake_port() and http_port() say which.
//
// Threads: one I/O thread runs the io_context (client sockets, the KMS WebSocket, HTTP); the
// event writer has its own thread and connection; the query worker has its own thread and
// connection. They meet only at IntakeQueue (a mutex) and through asio::post.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/config/sidecar_config.h"
#include "fls/http/http_server.h"
#include "fls/intake/intake_queue.h"
#include "fls/intake/intake_server.h"
#include "fls/kms/kms_client.h"
#include "fls/pg/query_worker.h"
#include "fls/store/event_writer.h"
#include "fls/store/inquiry_reader.h"
#include "fls/store/pg_event_repository.h"

namespace fls {

class SidecarApp final : public KmsBackend {
 public:
  explicit SidecarApp(SidecarConfig config);
  ~SidecarApp() override;

  // Binds the ports and starts every thread. Throws if a port cannot be bound.
  void start();
  // The ports bound by start(): the configured ones, or those the kernel picked for 0.
  std::uint16_t intake_port() const { return intake_port_; }
  std::uint16_t http_port() const { return http_port_; }
  // Blocks until SIGTERM or SIGINT.
  void wait_for_signal();
  // Stops accepting, stores what was received, closes the KMS link. False if the store did
  // not finish in time.
  bool stop(std::chrono::milliseconds timeout);

  // KmsBackend: the KMS link's view of the store.
  void registered(Registration registration) override;
  void acknowledged(std::string batch_id) override;
  std::uint64_t events_last_hour() override;
  void answer_inquiry(InquiryRequest request, std::shared_ptr<InquiryReplies> replies) override;

 private:
  void ignore_repeated_signals();
  HttpResponse handle_http(const HttpRequest& request);
  HttpResponse readiness() const;
  HttpResponse metrics() const;

  SidecarConfig config_;
  SystemClock clock_;
  std::unique_ptr<IdSource> ids_;
  boost::asio::io_context io_;
  // Only for a wss:// KMS: loading the system's CA certificates costs about a megabyte.
  std::optional<boost::asio::ssl::context> tls_;
  IntakeQueue queue_;
  PgEventRepository repository_;
  QueryWorker query_worker_;
  InquiryReader inquiry_reader_;
  std::shared_ptr<KmsClient> kms_;
  std::unique_ptr<EventWriter> writer_;
  IntakeServer intake_;
  HttpServer http_;
  // Kept from the first signal to the end, so that a repeated one is logged, not fatal.
  std::optional<boost::asio::signal_set> signals_;
  std::thread io_thread_;
  std::uint16_t intake_port_ = 0;
  std::uint16_t http_port_ = 0;
};

}  // namespace fls
