#include "fls/kms_server/sidecar_session.h"

#include <spdlog/spdlog.h>

#include "fls/common/ascii.h"
#include "fls/protocol/messages.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/row_signer.h"

namespace fls::kms {

using json = nlohmann::json;
using protocol::ErrorCode;

namespace {

const protocol::Error kInternalError{ErrorCode::internal_error, "Internal error"};

}  // namespace

SidecarSession::SidecarSession(SessionContext context, std::shared_ptr<SessionHost> host, std::string remote,
                               std::optional<TokenHash> token_hash)
    : context_(context),
      host_(std::move(host)),
      remote_(std::move(remote)),
      token_hash_(token_hash),
      registration_deadline_(context.io) {}

void SidecarSession::on_open(std::shared_ptr<WsPeer> peer) {
  peer_ = std::move(peer);
  spdlog::debug("sidecar connection from {}", remote_);
  // A connection that never completes registration holds a slot for nothing.
  registration_deadline_.expires_after(context_.settings.registration_timeout);
  registration_deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ == State::registered || self->state_ == State::closed) return;
    spdlog::warn("sidecar connection {} did not complete registration within {} ms; closing", self->describe(),
                 self->context_.settings.registration_timeout.count());
    self->close(websocket_policy_violation);
  });
}

void SidecarSession::on_text(std::string text) {
  protocol::Incoming message = protocol::parse(text);
  if (auto* invalid = std::get_if<protocol::Invalid>(&message)) {
    spdlog::warn("sidecar {} sent {}; answered with error {}", describe(), invalid->reason,
                 static_cast<int>(invalid->error.code));
    return error(invalid->id, invalid->error);
  }
  if (auto* response = std::get_if<protocol::Response>(&message)) return on_reply(*response);
  auto& request = std::get<protocol::Request>(message);
  const json& id = request.id;
  if (request.is(protocol::kRegister) && state_ == State::connected) return on_register(id, request.params);
  if (request.is(protocol::kChallenge) && state_ == State::challenged) return on_challenge(id, request.params);
  if (request.is(protocol::kBatch) && state_ == State::registered) return on_batch(id, request.params);
  if (request.is(protocol::kInquiryResponse) && state_ == State::registered) {
    return on_inquiry_response(request.params);
  }
  if (state_ == State::refused) return;  // closing: nothing more is answered
  spdlog::warn("sidecar {} called '{}', which is not allowed now", describe(), request.method);
  error(id, {ErrorCode::method_not_found, "Method not found"});
}

void SidecarSession::on_closed(const std::string& reason) {
  const State was = state_;
  state_ = State::closed;
  spdlog::info("sidecar {} disconnected: {}", describe(), reason);
  if (was == State::challenged || was == State::registered) mark_terminated(sidecar_id_);
  host_->sidecar_closed(shared_from_this());
  peer_.reset();
}

void SidecarSession::send_healthcheck(const std::string& healthcheck_id, const std::string& level) {
  pending_healthchecks_.insert(healthcheck_id);
  send(protocol::encode_request(healthcheck_id, protocol::kHealthcheck, protocol::encode_healthcheck_params(level)));
}

void SidecarSession::send_inquiry(const std::string& inquiry_id, const std::string& start, const std::string& end) {
  send(protocol::encode_request(inquiry_id, protocol::kInquiry,
                                protocol::encode_inquiry_params(inquiry_id, start, end)));
}

void SidecarSession::close(std::uint16_t code) {
  if (peer_) peer_->close(code);
}

void SidecarSession::mark_terminated(const std::string& id) {
  context_.store.set_status(
      id, "terminated", [](bool) {}, [] {});
}

std::string SidecarSession::describe() const {
  return sidecar_id_.empty() ? remote_ : sidecar_id_ + " (" + remote_ + ")";
}

void SidecarSession::send(std::string text) {
  if (peer_) peer_->send(std::move(text));
}

void SidecarSession::reply(const json& id, protocol::OrderedJson result) {
  send(protocol::encode_result(id, std::move(result)));
}

void SidecarSession::error(const json& id, const protocol::Error& error) { send(protocol::encode_error(id, error)); }

void SidecarSession::on_register(const json& id, const json& params) {
  auto decoded = protocol::decode_register_params(params);
  if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
  const auto& request = std::get<protocol::RegisterParams>(decoded);
  state_ = State::registering;
  auto keys = std::make_shared<IssuedKeys>(context_.keys.issue());
  const KeyVault& vault = context_.vault;
  NewRegistration registration{
      SealedKeys{request.sidecar_id,
                 vault.seal(keys->row_key),
                 vault.seal(keys->batch_secret_key),
                 std::vector<std::uint8_t>(keys->batch_public_key.begin(), keys->batch_public_key.end()),
                 {},
                 {}},
      request.service_name, token_hash_, context_.settings.registration == RegistrationMode::token};
  const std::string sidecar = request.sidecar_id;
  const std::string service = request.service_name;
  auto self = shared_from_this();
  context_.store.register_sidecar(
      std::move(registration), context_.settings.registration_limits,
      [self, id, keys, sidecar, service](RegistrationResult result) {
        if (self->state_ == State::closed) {
          // It closed while the row was written.
          if (result.outcome == RegistrationOutcome::registered) self->mark_terminated(sidecar);
          return;
        }
        const RegistrationLimits& limits = self->context_.settings.registration_limits;
        switch (result.outcome) {
          case RegistrationOutcome::registered:
            return self->challenge(id, keys, sidecar, service, result.scope);
          case RegistrationOutcome::id_exists:
            self->state_ = State::connected;
            spdlog::warn("sidecar {} tried to register an id that exists: {}", self->remote_, sidecar);
            return self->error(id, {ErrorCode::sidecar_exists, "Sidecar with id " + sidecar + " already exists"});
          case RegistrationOutcome::unauthorized:
            spdlog::warn("sidecar connection {} refused: no valid credential for service '{}'", self->remote_, service);
            return self->refuse(id,
                                {ErrorCode::registration_refused,
                                 "Registration refused: a valid credential for service '" + service + "' is required"});
          case RegistrationOutcome::too_many_for_credential:
            spdlog::warn("sidecar connection {} refused: its credential has {} open registrations (the limit)",
                         self->remote_, limits.per_credential);
            return self->refuse(
                id, {ErrorCode::too_many_for_credential, "Too many open registrations for this credential"});
          case RegistrationOutcome::too_many:
            spdlog::warn("sidecar connection {} refused: {} registrations are open (the limit)", self->remote_,
                         limits.total);
            return self->refuse(id, {ErrorCode::too_many_registrations, "Too many open registrations"});
        }
      },
      [self, id] {
        self->state_ = State::connected;
        self->error(id, kInternalError);
      });
}

void SidecarSession::challenge(const json& id, const std::shared_ptr<IssuedKeys>& keys, const std::string& sidecar,
                               const std::string& service, const std::string& scope) {
  sidecar_id_ = sidecar;
  service_name_ = service;
  scope_ = scope;
  keys_ = keys;
  challenge_ = context_.keys.challenge();
  state_ = State::challenged;
  ++context_.metrics.registrations;
  spdlog::info("sidecar {} of service {} registered{}, challenge sent", describe(), service,
               scope == kOpenScope ? " without a credential" : " with credential " + scope);
  reply(id, protocol::encode_register_result(sidecar, keys->row_key, keys->batch_secret_key, challenge_));
}

void SidecarSession::refuse(const json& id, const protocol::Error& refusal) {
  // Answered, then closed: a refused registration is not retried on this connection.
  state_ = State::refused;
  ++context_.metrics.registrations_refused;
  error(id, refusal);
  close(websocket_policy_violation);
}

void SidecarSession::on_challenge(const json& id, const json& params) {
  auto decoded = protocol::decode_challenge_params(params);
  if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
  const auto& signatures = std::get<protocol::ChallengeParams>(decoded);
  // The batch signature is checked first, as the original KMS did.
  std::optional<ErrorCode> failure;
  if (check_batch_signature(keys_->batch_public_key, challenge_, signatures.batch_signature) != SignatureCheck::valid) {
    failure = ErrorCode::bad_batch_signature;
  } else if (ascii_lower(signatures.row_signature) != RowSigner(keys_->row_key).sign_hex(challenge_)) {
    failure = ErrorCode::bad_row_signature;
  }
  const std::string sidecar = sidecar_id_;
  auto self = shared_from_this();
  state_ = State::registering;  // nothing else is accepted until the status is committed
  context_.store.set_status(
      sidecar, failure ? "suspended" : "registered",
      [self, id, failure, sidecar](bool) {
        if (self->state_ == State::closed) {
          if (!failure) self->mark_terminated(sidecar);  // it closed while the row was written
          return;
        }
        if (failure) {
          ++self->context_.metrics.challenges_failed;
          spdlog::warn("sidecar {} failed the challenge ({}); suspended", self->describe(), static_cast<int>(*failure));
          self->state_ = State::connected;
          self->keys_.reset();
          self->error(id, {*failure, *failure == ErrorCode::bad_batch_signature ? "Invalid batch signature"
                                                                                : "Invalid row signature"});
          self->sidecar_id_.clear();
          return self->close(websocket_normal);
        }
        self->state_ = State::registered;
        self->keys_.reset();  // the KMS keeps only the sealed copies
        self->registration_deadline_.cancel();
        if (self->peer_) self->peer_->set_read_limit(self->context_.settings.max_message_size);
        spdlog::info("sidecar {} passed the challenge", self->describe());
        self->reply(id, protocol::encode_challenge_passed());
        self->host_->sidecar_registered(self);
      },
      [self, id] {
        self->state_ = State::challenged;
        self->error(id, kInternalError);
      });
}

void SidecarSession::on_batch(const json& id, const json& params) {
  auto decoded = protocol::decode_batch_params(params);
  if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
  auto& delivered = std::get<protocol::BatchParams>(decoded);
  const std::string batch = delivered.batch_id;
  auto self = shared_from_this();
  context_.store.store_batch(
      NewBatch{batch, sidecar_id_, scope_, std::move(delivered.signature)},
      [self, id, batch](bool inserted) {
        if (!inserted) return self->error(id, {ErrorCode::batch_exists, "Batch with id " + batch + " already exists"});
        ++self->context_.metrics.batches_received;
        self->reply(id, protocol::encode_batch_result(batch));
      },
      [self, id] { self->error(id, kInternalError); });
}

void SidecarSession::on_inquiry_response(json& params) {
  auto response = protocol::decode_inquiry_response_params(params);
  if (!response) {
    ++context_.metrics.inquiry_responses_refused;
    spdlog::warn("sidecar {} sent an inquiry-response without a valid inquiry id; ignored", describe());
    return;
  }
  const std::string inquiry_id = response->inquiry_id;
  const auto total = response->total;
  const auto item = response->item;
  const bool has_batch = response->batch_id.has_value();
  // Out-of-range values (here -1) are judged like any other: they never count.
  InquiryJudgement judgement =
      host_->judge_inquiry_response(sidecar_id_, inquiry_id, total.value_or(-1), item.value_or(-1), has_batch);
  if (!judgement.dropped.empty()) {
    ++context_.metrics.inquiry_responses_refused;
    spdlog::warn("sidecar {} answered inquiry {}, but {}; ignored", describe(), inquiry_id, judgement.dropped);
    return;
  }
  std::optional<std::string> problem = std::move(judgement.problem);
  if (!total || !item) problem = "total and item must be integers";
  if (problem) {
    ++context_.metrics.inquiry_responses_refused;
    spdlog::warn("sidecar {} sent an inquiry-response to {} that cannot count: {}", describe(), inquiry_id, *problem);
  }
  // Kept as evidence either way; the database's integer columns hold any value that counted.
  const auto stored = [](std::optional<std::int64_t> value) {
    return std::clamp<std::int64_t>(value.value_or(0), -kMaxInquiryItems, kMaxInquiryItems);
  };
  InquiryResponseRow row{sidecar_id_, std::nullopt, {}, stored(total), stored(item), problem};
  if (has_batch) {
    row.batch_id = std::move(response->batch_id);
    row.body = std::move(*response->body);
  }
  row.arrival = judgement.arrival;
  auto self = shared_from_this();
  context_.store.store_inquiry_response(
      inquiry_id, std::move(row), SenderScope{scope_, service_name_},
      [self, inquiry_id](StoredResponse stored) { self->host_->inquiry_response_stored(inquiry_id, stored); },
      [self, inquiry_id] { self->host_->inquiry_response_stored(inquiry_id, std::nullopt); });
}

void SidecarSession::on_reply(protocol::Response& message) {
  const std::string* id = message.id_text();
  if (id == nullptr || pending_healthchecks_.erase(ascii_lower(*id)) == 0) {
    spdlog::warn("sidecar {} sent a reply that matches no request; ignored", describe());
    return;
  }
  json response = message.is_error ? json{{"error", std::move(message.payload)}} : std::move(message.payload);
  context_.store.complete_healthcheck(
      ascii_lower(*id), std::move(response), [](bool) {}, [] {});
}

}  // namespace fls::kms
