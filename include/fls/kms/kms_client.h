#pragma once
// The sidecar's side of the KMS protocol (protocol.md §4): registration and challenge on every
// connection, batch delivery with acknowledgements, health checks, inquiries, keep-alive and
// reconnection.
//
// Everything here runs on the io_context's single thread. Other threads reach it only through
// the thread-safe entry points (BatchSink, InquiryReplies, status()), which post to that thread.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/common/iso_time.h"
#include "fls/config/kms_url.h"
#include "fls/handover/batch_sink.h"
#include "fls/kms/ws_transport.h"
#include "fls/protocol/jsonrpc.h"
#include "fls/signing/registration.h"

namespace fls {

struct KmsClientOptions {
  KmsUrl url;
  std::string url_text;  // for logs
  std::string service_name;
  std::chrono::milliseconds ping_interval{30'000};
  std::chrono::milliseconds request_timeout{120'000};
  std::chrono::milliseconds connect_timeout{60'000};
  std::chrono::milliseconds reconnect_interval{5'000};
  std::size_t max_batches_in_flight = 64;
  std::size_t max_message_size = 16 << 20;
};

struct InquiryRequest {
  std::string inquiry_id;
  Instant start;
  Instant end;
};

struct InquiryItem {
  std::string batch_id;
  std::string body;
};

// Sends one inquiry's responses on the connection that asked for it. Thread-safe; its calls
// block until the messages are written, so call them off the I/O thread.
class InquiryReplies {
 public:
  virtual ~InquiryReplies() = default;
  // Sends `items` as items first_item, first_item + 1, … of `total`. With total 0, sends the
  // one "nothing found" response. False once the connection that asked is gone.
  virtual bool send(std::size_t total, std::size_t first_item, std::vector<InquiryItem> items) = 0;
};

// What the KMS link needs from the rest of the sidecar.
class KmsBackend {
 public:
  virtual ~KmsBackend() = default;
  virtual void registered(Registration registration) = 0;
  virtual void acknowledged(std::string batch_id) = 0;
  virtual std::uint64_t events_last_hour() = 0;
  // Finds the stored batches for the inquiry and sends them through `replies`, off the I/O thread.
  virtual void answer_inquiry(InquiryRequest request, std::shared_ptr<InquiryReplies> replies) = 0;
};

struct KmsStatus {
  bool connected = false;
  bool registered = false;
  std::string sidecar_id;
  std::uint64_t reconnects = 0;
  std::uint64_t batches_sent = 0;
  std::uint64_t batches_acknowledged = 0;
  std::size_t batches_waiting = 0;
};

class KmsClient final : public BatchSink, public std::enable_shared_from_this<KmsClient> {
 public:
  // `transport_factory` makes one connection's transport; tests may substitute their own.
  using TransportFactory = std::function<std::shared_ptr<WsTransport>(WsEvents)>;

  KmsClient(boost::asio::io_context& io, TransportFactory transport_factory, const Clock& clock, IdSource& ids,
            KmsBackend& backend, KmsClientOptions options);

  void start();
  // Closes the connection and stops reconnecting.
  void stop();

  // BatchSink (thread-safe).
  void send_after_registration(std::string sidecar_id, std::vector<BatchToSend> batches) override;
  void send(std::string sidecar_id, std::vector<BatchToSend> batches) override;

  KmsStatus status() const;  // thread-safe

  // Thread-safe: calls `done` (on the I/O thread) once every batch handed over so far is
  // acknowledged, or at once when there is no registered connection to deliver them on.
  void when_delivered(std::function<void()> done);

  // One whole text message from the KMS (public for the fuzz target).
  void handle_text(const std::string& text);

 private:
  enum class State { idle, connecting, registering, challenging, registered };
  enum class RequestKind { register_, challenge, batch };
  struct Pending {
    RequestKind kind;
    std::string batch_id;  // for batch requests
    std::chrono::steady_clock::time_point deadline;
  };

  void connect();
  void on_open();
  void on_closed(const std::string& reason);
  void schedule_reconnect();
  void drop_connection(const std::string& why);

  void send_request(RequestKind kind, const char* method, protocol::OrderedJson params, std::string batch_id = {});
  void send_text(std::string text);
  void send_error(const nlohmann::json& id, const protocol::Error& error);

  // Mutable: the registration reply's key strings are wiped once decoded.
  void on_response(protocol::Response& message);
  void on_register_result(nlohmann::json& result);
  void on_challenge_result(const protocol::Response& message);
  void on_batch_result(const std::string& batch_id, const protocol::Response& message);
  void on_request(const protocol::Request& message);
  void on_healthcheck(const nlohmann::json& id);
  void on_inquiry(const nlohmann::json& id, const nlohmann::json& params);

  void pump_batches();
  void arm_request_timer();
  void on_request_timer();
  void arm_ping_timer();
  void on_ping_timer();
  void publish_status();

  boost::asio::io_context& io_;
  TransportFactory transport_factory_;
  const Clock& clock_;
  IdSource& ids_;
  KmsBackend& backend_;
  KmsClientOptions options_;

  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer request_timer_;
  boost::asio::steady_timer ping_timer_;

  std::shared_ptr<WsTransport> transport_;
  std::uint64_t generation_ = 0;  // identifies the connection; stale callbacks are ignored
  State state_ = State::idle;
  bool stopped_ = false;
  std::optional<std::chrono::steady_clock::time_point> failing_since_;
  bool failure_reported_ = false;

  std::string sidecar_id_;  // of the registration in progress or current
  std::optional<Registration> pending_registration_;
  std::map<std::string, Pending> pending_;
  std::deque<BatchToSend> outbound_;
  std::size_t in_flight_ = 0;
  std::chrono::steady_clock::time_point last_activity_;
  std::optional<std::chrono::steady_clock::time_point> ping_sent_at_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  std::vector<std::function<void()>> delivery_waiters_;
  void notify_if_delivered();

  mutable std::mutex status_mutex_;
  KmsStatus status_;
};

}  // namespace fls
