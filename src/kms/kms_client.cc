#include "fls/kms/kms_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <future>

#include "fls/common/json_input.h"
#include "fls/common/logging.h"
#include "fls/common/version.h"
#include "fls/common/wipe.h"
#include "fls/protocol/messages.h"
#include "fls/signing/row_signer.h"

namespace fls {

namespace asio = boost::asio;
using json = nlohmann::json;
using protocol::ErrorCode;
using protocol::OrderedJson;
using steady = std::chrono::steady_clock;

namespace {

// Replies for one inquiry, bound to the connection that asked.
class ConnectionInquiryReplies final : public InquiryReplies {
 public:
  using Sender = std::function<bool(std::size_t, std::size_t, std::vector<InquiryItem>&, std::function<void()>)>;
  ConnectionInquiryReplies(asio::io_context& io, Sender sender, std::chrono::milliseconds timeout)
      : io_(io), sender_(std::move(sender)), timeout_(timeout) {}

  bool send(std::size_t total, std::size_t first_item, std::vector<InquiryItem> items) override {
    auto written = std::make_shared<std::promise<bool>>();
    auto result = written->get_future();
    // The handler may run after this object is gone (send() gave up): it owns what it uses.
    asio::post(io_, [sender = sender_, written, total, first_item, items = std::move(items)]() mutable {
      if (!sender(total, first_item, items, [written] { written->set_value(true); })) {
        written->set_value(false);
      }
    });
    // A stopped io_context never runs the handler: give up after the request timeout.
    if (result.wait_for(timeout_) != std::future_status::ready) return false;
    return result.get();
  }

 private:
  asio::io_context& io_;
  Sender sender_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

KmsClient::KmsClient(asio::io_context& io, TransportFactory transport_factory, const Clock& clock, IdSource& ids,
                     KmsBackend& backend, KmsClientOptions options)
    : io_(io),
      transport_factory_(std::move(transport_factory)),
      clock_(clock),
      ids_(ids),
      backend_(backend),
      options_(std::move(options)),
      reconnect_timer_(io),
      request_timer_(io),
      ping_timer_(io) {}

void KmsClient::start() {
  asio::post(io_, [self = shared_from_this()] { self->connect(); });
}

void KmsClient::stop() {
  asio::post(io_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->reconnect_timer_.cancel();
    if (self->transport_) self->transport_->close();
  });
}

// ---- connection life cycle ----

void KmsClient::connect() {
  if (stopped_) return;
  state_ = State::connecting;
  const std::uint64_t generation = ++generation_;
  std::weak_ptr<KmsClient> weak = weak_from_this();
  auto current = [weak, generation]() -> std::shared_ptr<KmsClient> {
    auto self = weak.lock();
    return self && self->generation_ == generation ? self : nullptr;
  };
  WsEvents events;
  events.on_open = [current] {
    if (auto self = current()) self->on_open();
  };
  events.on_text = [current](std::string text) {
    // A registration reply carries the keys in hex: the text, and whatever the parser and the
    // handlers free meanwhile, is wiped.
    const WipedOnExit wiped(text);
    const WipeFreedMemory wipe_freed;
    if (auto self = current()) self->handle_text(text);
  };
  events.on_activity = [current] {
    if (auto self = current()) self->last_activity_ = steady::now();
  };
  events.on_closed = [current](std::string reason) {
    if (auto self = current()) self->on_closed(reason);
  };
  if (!failing_since_) failing_since_ = steady::now();
  transport_ = transport_factory_(std::move(events));
  transport_->connect(options_.connect_timeout);
}

void KmsClient::on_open() {
  spdlog::info("KMS connection open to {}", options_.url_text);
  failing_since_.reset();
  failure_reported_ = false;
  last_activity_ = steady::now();
  ping_sent_at_.reset();
  state_ = State::registering;
  // A fresh sidecar id on every connection: the KMS refuses one it has seen (40001).
  sidecar_id_ = ids_.next_uuid();
  send_request(RequestKind::register_, protocol::kRegister,
               protocol::encode(protocol::RegisterParams{sidecar_id_, options_.service_name}));
  arm_ping_timer();
  publish_status();
}

void KmsClient::on_closed(const std::string& reason) {
  const bool was_open = state_ != State::connecting;
  const bool was_registered = state_ == State::registered;
  state_ = State::idle;
  transport_.reset();
  request_timer_.cancel();
  ping_timer_.cancel();
  pending_.clear();
  outbound_.clear();  // the writer hands every unacknowledged batch to the next registration
  in_flight_ = 0;
  pending_registration_.reset();
  if (was_registered) sidecar_id_.clear();
  notify_if_delivered();  // nothing more can be delivered on this connection
  {
    std::lock_guard lock(status_mutex_);
    if (was_open) ++status_.reconnects;
  }
  publish_status();
  if (stopped_) {
    spdlog::info("KMS connection closed");
    return;
  }
  if (was_open) {
    spdlog::warn("KMS connection lost ({}); reconnecting every {} ms", reason, options_.reconnect_interval.count());
    failing_since_ = steady::now();
  } else {
    const auto failing_for = steady::now() - *failing_since_;
    if (failing_for >= options_.connect_timeout && !failure_reported_) {
      failure_reported_ = true;
      spdlog::error(
          "cannot connect to the KMS at {} for {} ms (SIDE_KMS__CONNECT_TIMEOUT): {}; "
          "still retrying every {} ms",
          options_.url_text, std::chrono::duration_cast<std::chrono::milliseconds>(failing_for).count(), reason,
          options_.reconnect_interval.count());
    } else {
      spdlog::warn("KMS connection attempt to {} failed: {}", options_.url_text, reason);
    }
  }
  schedule_reconnect();
}

void KmsClient::schedule_reconnect() {
  reconnect_timer_.expires_after(options_.reconnect_interval);
  reconnect_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->connect();
  });
}

void KmsClient::drop_connection(const std::string& why) {
  spdlog::warn("closing the KMS connection: {}", why);
  if (transport_) transport_->close();
}

// ---- sending ----

void KmsClient::send_text(std::string text) {
  if (transport_) transport_->send(std::move(text));
}

void KmsClient::send_request(RequestKind kind, const char* method, OrderedJson params, std::string batch_id) {
  const std::string id = ids_.next_uuid();
  pending_.emplace(id, Pending{kind, std::move(batch_id), steady::now() + options_.request_timeout});
  send_text(protocol::encode_request(id, method, std::move(params)));
  arm_request_timer();
}

void KmsClient::send_error(const json& id, const protocol::Error& error) {
  send_text(protocol::encode_error(id, error));
}

void KmsClient::send_after_registration(std::string sidecar_id, std::vector<BatchToSend> batches) {
  asio::post(io_,
             [self = shared_from_this(), sidecar_id = std::move(sidecar_id), batches = std::move(batches)]() mutable {
               if (self->state_ != State::registered || self->sidecar_id_ != sidecar_id) return;
               self->outbound_.assign(std::make_move_iterator(batches.begin()), std::make_move_iterator(batches.end()));
               self->pump_batches();
             });
}

void KmsClient::send(std::string sidecar_id, std::vector<BatchToSend> batches) {
  asio::post(io_,
             [self = shared_from_this(), sidecar_id = std::move(sidecar_id), batches = std::move(batches)]() mutable {
               if (self->state_ != State::registered || self->sidecar_id_ != sidecar_id) return;
               for (auto& batch : batches) self->outbound_.push_back(std::move(batch));
               self->pump_batches();
             });
}

void KmsClient::pump_batches() {
  while (state_ == State::registered && in_flight_ < options_.max_batches_in_flight && !outbound_.empty()) {
    BatchToSend batch = std::move(outbound_.front());
    outbound_.pop_front();
    ++in_flight_;
    send_request(RequestKind::batch, protocol::kBatch,
                 protocol::encode(protocol::BatchParams{batch.batch_id, batch.signature}), batch.batch_id);
    std::lock_guard lock(status_mutex_);
    ++status_.batches_sent;
  }
  publish_status();
}

// ---- receiving ----

void KmsClient::handle_text(const std::string& text) {
  protocol::Incoming message = protocol::parse(text);
  if (auto* request = std::get_if<protocol::Request>(&message)) return on_request(*request);
  if (auto* response = std::get_if<protocol::Response>(&message)) return on_response(*response);
  const auto& invalid = std::get<protocol::Invalid>(message);
  spdlog::warn("KMS sent {}; answered with error {}", invalid.reason, static_cast<int>(invalid.error.code));
  send_error(invalid.id, invalid.error);
}

void KmsClient::on_response(protocol::Response& message) {
  const std::string* id = message.id_text();
  const auto it = id == nullptr ? pending_.end() : pending_.find(*id);
  if (it == pending_.end()) {
    spdlog::warn("KMS sent a reply whose id matches no pending request; ignored");
    return;
  }
  const Pending pending = std::move(it->second);
  pending_.erase(it);
  arm_request_timer();
  switch (pending.kind) {
    case RequestKind::register_:
      if (message.is_error) {
        spdlog::error("KMS refused the registration ({})", message.describe_error());
        drop_connection("registration refused");
      } else {
        on_register_result(message.payload);
      }
      break;
    case RequestKind::challenge:
      on_challenge_result(message);
      break;
    case RequestKind::batch:
      on_batch_result(pending.batch_id, message);
      break;
  }
}

void KmsClient::on_register_result(json& result) {
  auto registration = protocol::decode_register_result(result);
  if (!registration) {
    spdlog::error("KMS registration reply lacks a valid id, batchKey, rowKey or challenge");
    drop_connection("unusable registration reply");
    return;
  }
  std::optional<BatchSigner> batch_signer;
  if (registration->batch_key) batch_signer = BatchSigner::from_secret_key(std::move(*registration->batch_key));
  if (!registration->row_key || !batch_signer) {
    // Lengths only: key material is never logged.
    spdlog::error(
        "KMS registration reply has an unusable key (rowKey {} hex digits, batchKey {} hex "
        "digits; expected {} and {}, and a batchKey whose second half is its public key)",
        registration->row_key_digits, registration->batch_key_digits, 2 * protocol::kRowKeySize,
        2 * protocol::kBatchKeySize);
    drop_connection("unusable registration keys");
    return;
  }
  if (lower_uuid(registration->sidecar_id) != lower_uuid(sidecar_id_)) {
    spdlog::warn("KMS registered the sidecar as {} instead of {}; using the KMS's id", registration->sidecar_id,
                 sidecar_id_);
  }
  sidecar_id_ = registration->sidecar_id;
  const protocol::ChallengeParams signed_challenge{RowSigner(*registration->row_key).sign_hex(registration->challenge),
                                                   batch_signer->sign_hex(registration->challenge)};
  pending_registration_.emplace(Registration{sidecar_id_, std::move(*registration->row_key), std::move(*batch_signer)});
  state_ = State::challenging;
  send_request(RequestKind::challenge, protocol::kChallenge, protocol::encode(signed_challenge));
}

void KmsClient::on_challenge_result(const protocol::Response& message) {
  if (message.is_error || !protocol::is_challenge_passed(message.payload) || !pending_registration_) {
    spdlog::error("KMS rejected the challenge ({})",
                  message.is_error ? message.describe_error() : std::string("unexpected result"));
    drop_connection("challenge failed");
    return;
  }
  state_ = State::registered;
  set_process_log_field("sidecarId", sidecar_id_);
  spdlog::info("registered with the KMS as sidecar {} for service {}", sidecar_id_, options_.service_name);
  backend_.registered(std::move(*pending_registration_));
  pending_registration_.reset();
  publish_status();
}

void KmsClient::on_batch_result(const std::string& batch_id, const protocol::Response& message) {
  --in_flight_;
  const LogField field("batchId", batch_id);
  if (message.is_error && !message.has_error_code(ErrorCode::batch_exists)) {
    // Delivered again, in order, after the reconnection re-registers.
    drop_connection("KMS refused batch " + batch_id + " (" + message.describe_error() + ")");
    return;
  }
  if (message.is_error) spdlog::debug("KMS already holds batch {}", batch_id);
  backend_.acknowledged(batch_id);
  {
    std::lock_guard lock(status_mutex_);
    ++status_.batches_acknowledged;
  }
  pump_batches();
  notify_if_delivered();
}

void KmsClient::on_request(const protocol::Request& message) {
  if (message.is(protocol::kHealthcheck)) {
    on_healthcheck(message.id);
  } else if (message.is(protocol::kInquiry)) {
    on_inquiry(message.id, message.params);
  } else {
    spdlog::warn("KMS called unknown method '{}'; answered with method not found", message.method);
    if (message.has_id) send_error(message.id, {ErrorCode::method_not_found, "Method not found"});
  }
}

void KmsClient::on_healthcheck(const json& id) {
  protocol::HealthcheckResult result;
  result.sidecar_id = sidecar_id_;
  result.version = kVersion;
  result.current = format_iso_millis(clock_.now_ms());
  result.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started_).count();
  result.event_count_last_hour = backend_.events_last_hour();
  send_text(protocol::encode_result(id, protocol::encode(result)));
}

void KmsClient::on_inquiry(const json& id, const json& params) {
  auto decoded = protocol::decode_inquiry_params(params);
  if (const auto* error = std::get_if<protocol::Error>(&decoded)) {
    spdlog::warn("KMS sent an inquiry without a valid inquiry id and time range; answered with invalid params");
    send_error(id, *error);
    return;
  }
  const auto& inquiry_params = std::get<protocol::InquiryParams>(decoded);
  spdlog::info("KMS inquiry {} for {} .. {}", inquiry_params.inquiry_id, inquiry_params.start_text,
               inquiry_params.end_text);
  const std::uint64_t generation = generation_;
  std::weak_ptr<KmsClient> weak = weak_from_this();
  const std::string inquiry = inquiry_params.inquiry_id;
  auto sender = [weak, generation, inquiry](std::size_t total, std::size_t first_item, std::vector<InquiryItem>& items,
                                            std::function<void()> written) {
    auto self = weak.lock();
    if (!self || self->generation_ != generation || !self->transport_) return false;
    const auto respond = [&](OrderedJson params) {
      self->send_text(protocol::encode_request(self->ids_.next_uuid(), protocol::kInquiryResponse, std::move(params)));
    };
    if (total == 0) respond(protocol::encode_inquiry_nothing_found(inquiry));
    for (std::size_t i = 0; i < items.size(); ++i) {
      respond(protocol::encode_inquiry_item(inquiry, std::move(items[i].batch_id), std::move(items[i].body), total,
                                            first_item + i));
    }
    self->transport_->when_flushed(std::move(written));
    return true;
  };
  backend_.answer_inquiry(InquiryRequest{inquiry, inquiry_params.start, inquiry_params.end},
                          std::make_shared<ConnectionInquiryReplies>(io_, std::move(sender), options_.request_timeout));
}

// ---- timers ----

void KmsClient::arm_request_timer() {
  if (pending_.empty()) {
    request_timer_.cancel();
    return;
  }
  auto earliest = steady::time_point::max();
  for (const auto& [id, pending] : pending_) earliest = std::min(earliest, pending.deadline);
  request_timer_.expires_at(earliest);
  request_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->on_request_timer();
  });
}

void KmsClient::on_request_timer() {
  const auto now = steady::now();
  for (const auto& [id, pending] : pending_) {
    if (pending.deadline <= now) {
      drop_connection("request " + id + " got no answer within " + std::to_string(options_.request_timeout.count()) +
                      " ms (SIDE_KMS__REQUEST_TIMEOUT)");
      return;
    }
  }
  arm_request_timer();
}

void KmsClient::arm_ping_timer() {
  ping_timer_.expires_after(options_.ping_interval);
  ping_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->on_ping_timer();
  });
}

void KmsClient::on_ping_timer() {
  if (!transport_) return;
  if (ping_sent_at_ && last_activity_ < *ping_sent_at_) {
    drop_connection("no pong or other frame within " + std::to_string(options_.ping_interval.count()) +
                    " ms of a ping (SIDE_KMS__PING_INTERVAL)");
    return;
  }
  ping_sent_at_ = steady::now();
  transport_->ping(OrderedJson{{"timestamp", format_iso_millis(clock_.now_ms())}}.dump());
  arm_ping_timer();
}

void KmsClient::publish_status() {
  std::lock_guard lock(status_mutex_);
  status_.connected = state_ != State::idle && state_ != State::connecting;
  status_.registered = state_ == State::registered;
  status_.sidecar_id = state_ == State::registered ? sidecar_id_ : std::string();
  status_.batches_waiting = outbound_.size() + in_flight_;
}

void KmsClient::when_delivered(std::function<void()> done) {
  asio::post(io_, [self = shared_from_this(), done = std::move(done)]() mutable {
    self->delivery_waiters_.push_back(std::move(done));
    self->notify_if_delivered();
  });
}

void KmsClient::notify_if_delivered() {
  if (state_ == State::registered && (in_flight_ != 0 || !outbound_.empty())) return;
  auto waiters = std::move(delivery_waiters_);
  delivery_waiters_.clear();
  for (auto& done : waiters) done();
}

KmsStatus KmsClient::status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

}  // namespace fls
