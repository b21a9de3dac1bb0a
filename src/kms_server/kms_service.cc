#include "fls/kms_server/kms_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "fls/common/hex.h"
#include "fls/http/authorization.h"
#include "fls/kms_server/admin_api.h"
#include "fls/common/iso_time.h"
#include "fls/common/json_input.h"
#include "fls/common/prometheus.h"
#include "fls/kms_server/kms_db.h"
#include "fls/kms_server/verdict.h"
#include "fls/protocol/messages.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/row_signer.h"

namespace fls::kms {

namespace asio = boost::asio;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using protocol::ErrorCode;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

ordered_json credential_json(const CredentialRow& row) {
  return ordered_json{{"id", row.credential_id},
                      {"service", row.service_name},
                      {"label", row.label},
                      {"created", format_iso_millis(row.created_ms)},
                      {"revoked", row.revoked_ms ? ordered_json(format_iso_millis(*row.revoked_ms)) : ordered_json(nullptr)}};
}

// Keys for verification, opened from the database on the database thread and cached there.
// Only registrations of one scope are found (and those of the service without a credential, as
// find_batch): a row whose keyId belongs to another credential is never checked, nor counted, as
// this one's.
class CachingKeyLookup final : public KeyLookup {
 public:
  CachingKeyLookup(pqxx::connection& connection, const KeyVault& vault, std::string scope, std::string service)
      : connection_(connection), vault_(vault), scope_(std::move(scope)), service_(std::move(service)) {}
  const SidecarKeys* find(const std::string& sidecar_id) override {
    auto it = cache_.find(sidecar_id);
    if (it != cache_.end()) return &it->second;
    const auto sealed = keys_of(connection_, sidecar_id);
    if (!sealed || sealed->batch_public_key.size() != 32) return nullptr;
    if (sealed->scope != scope_ && !(sealed->scope == kOpenScope && sealed->service_name == service_)) return nullptr;
    auto row_key = vault_.open(sealed->row_key_sealed, 32);
    if (!row_key) return nullptr;
    SidecarKeys keys{sidecar_id, {}, std::move(*row_key)};
    std::copy(sealed->batch_public_key.begin(), sealed->batch_public_key.end(), keys.public_key.begin());
    return &cache_.emplace(sidecar_id, std::move(keys)).first->second;
  }

 private:
  pqxx::connection& connection_;
  const KeyVault& vault_;
  std::string scope_;
  std::string service_;
  std::map<std::string, SidecarKeys> cache_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// One sidecar's WebSocket connection: register -> challenge -> registered (protocol.md §4).

class SidecarSession final : public WsPeerHandler, public std::enable_shared_from_this<SidecarSession> {
 public:
  enum class State { connected, registering, challenged, registered, refused, closed };

  SidecarSession(std::shared_ptr<KmsService> service, std::string remote, std::optional<TokenHash> token_hash)
      : service_(std::move(service)),
        remote_(std::move(remote)),
        token_hash_(token_hash),
        registration_deadline_(service_->io_) {}

  void on_open(std::shared_ptr<WsPeer> peer) override {
    peer_ = std::move(peer);
    spdlog::debug("sidecar connection from {}", remote_);
    // A connection that never completes registration holds a slot for nothing.
    registration_deadline_.expires_after(service_->options_.registration_timeout);
    registration_deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->state_ == State::registered || self->state_ == State::closed) return;
      spdlog::warn("sidecar connection {} did not complete registration within {} ms; closing", self->describe(),
                   self->service_->options_.registration_timeout.count());
      self->close(websocket_policy_violation);
    });
  }

  void on_text(std::string text) override {
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

  void on_closed(const std::string& reason) override {
    const State was = state_;
    state_ = State::closed;
    spdlog::info("sidecar {} disconnected: {}", describe(), reason);
    if (was == State::challenged || was == State::registered) mark_terminated(sidecar_id_);
    service_->sidecar_closed(shared_from_this());
    peer_.reset();
  }

  // A health check request from the admin API; the reply completes it.
  void send_healthcheck(const std::string& healthcheck_id, const std::string& level) {
    pending_healthchecks_.insert(healthcheck_id);
    send(protocol::encode_request(healthcheck_id, protocol::kHealthcheck, protocol::encode_healthcheck_params(level)));
  }

  void send_inquiry(const std::string& inquiry_id, const std::string& start, const std::string& end) {
    send(protocol::encode_request(inquiry_id, protocol::kInquiry, protocol::encode_inquiry_params(inquiry_id, start, end)));
  }

  void close(std::uint16_t code = websocket_normal) {
    if (peer_) peer_->close(code);
  }

  const std::string& sidecar_id() const { return sidecar_id_; }
  const std::string& service_name() const { return service_name_; }
  const std::string& scope() const { return scope_; }
  State state() const { return state_; }

  static constexpr std::uint16_t websocket_normal = 1000;
  static constexpr std::uint16_t websocket_policy_violation = 1008;

 private:
  void mark_terminated(const std::string& id) {
    service_->run_db<bool>("marking sidecar " + id + " terminated",
                           [id](pqxx::connection& c) { set_status(c, id, "terminated"); return true; },
                           [](bool) {}, [] {});
  }

  std::string describe() const { return sidecar_id_.empty() ? remote_ : sidecar_id_ + " (" + remote_ + ")"; }

  void send(std::string text) {
    if (peer_) peer_->send(std::move(text));
  }
  void reply(const json& id, protocol::OrderedJson result) { send(protocol::encode_result(id, std::move(result))); }
  void error(const json& id, const protocol::Error& error) { send(protocol::encode_error(id, error)); }

  void on_register(const json& id, const json& params) {
    auto decoded = protocol::decode_register_params(params);
    if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
    const auto& request = std::get<protocol::RegisterParams>(decoded);
    state_ = State::registering;
    auto keys = std::make_shared<IssuedKeys>(service_->keys_.issue());
    const auto& vault = service_->vault_;
    NewRegistration registration{
        SealedKeys{request.sidecar_id, vault.seal(keys->row_key), vault.seal(keys->batch_secret_key),
                   std::vector<std::uint8_t>(keys->batch_public_key.begin(), keys->batch_public_key.end()), {}, {}},
        request.service_name, token_hash_, service_->options_.registration == RegistrationMode::token};
    const auto limits = service_->options_.registration_limits;
    const std::string sidecar = registration.keys.sidecar_id;
    const std::string service = request.service_name;
    auto self = shared_from_this();
    service_->run_db<RegistrationResult>(
        "registering sidecar " + sidecar,
        [registration, limits](pqxx::connection& c) { return insert_sidecar(c, registration, limits); },
        [self, id, keys, sidecar, service](RegistrationResult result) {
          if (self->state_ == State::closed) {
            // It closed while the row was written.
            if (result.outcome == RegistrationOutcome::registered) self->mark_terminated(sidecar);
            return;
          }
          switch (result.outcome) {
            case RegistrationOutcome::registered:
              return self->challenge(id, keys, sidecar, service, result.scope);
            case RegistrationOutcome::id_exists:
              self->state_ = State::connected;
              spdlog::warn("sidecar {} tried to register an id that exists: {}", self->remote_, sidecar);
              return self->error(id, {ErrorCode::sidecar_exists, "Sidecar with id " + sidecar + " already exists"});
            case RegistrationOutcome::unauthorized:
              spdlog::warn("sidecar connection {} refused: no valid credential for service '{}'", self->remote_, service);
              return self->refuse(id, {ErrorCode::registration_refused, "Registration refused: a valid credential for "
                                                                        "service '" + service + "' is required"});
            case RegistrationOutcome::too_many_for_credential:
              spdlog::warn("sidecar connection {} refused: its credential has {} open registrations (the limit)",
                           self->remote_, self->service_->options_.registration_limits.per_credential);
              return self->refuse(id, {ErrorCode::too_many_for_credential, "Too many open registrations for this credential"});
            case RegistrationOutcome::too_many:
              spdlog::warn("sidecar connection {} refused: {} registrations are open (the limit)", self->remote_,
                           self->service_->options_.registration_limits.total);
              return self->refuse(id, {ErrorCode::too_many_registrations, "Too many open registrations"});
          }
        },
        [self, id] {
          self->state_ = State::connected;
          self->error(id, {ErrorCode::internal_error, "Internal error"});
        });
  }

  // The registration row is committed: hand out the keys and the challenge.
  void challenge(const json& id, const std::shared_ptr<IssuedKeys>& keys, const std::string& sidecar,
                 const std::string& service, const std::string& scope) {
    sidecar_id_ = sidecar;
    service_name_ = service;
    scope_ = scope;
    keys_ = keys;
    challenge_ = service_->keys_.challenge();
    state_ = State::challenged;
    ++service_->metrics_.registrations;
    spdlog::info("sidecar {} of service {} registered{}, challenge sent", describe(), service,
                 scope == kOpenScope ? " without a credential" : " with credential " + scope);
    reply(id, protocol::encode_register_result(sidecar, keys->row_key, keys->batch_secret_key, challenge_));
  }

  // Answers with the error, then closes: a refused registration is not retried on this connection.
  void refuse(const json& id, const protocol::Error& refusal) {
    state_ = State::refused;
    ++service_->metrics_.registrations_refused;
    error(id, refusal);
    close(websocket_policy_violation);
  }

  void on_challenge(const json& id, const json& params) {
    auto decoded = protocol::decode_challenge_params(params);
    if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
    const auto& signatures = std::get<protocol::ChallengeParams>(decoded);
    // The batch signature is checked first, as the original KMS did.
    std::optional<ErrorCode> failure;
    if (check_batch_signature(keys_->batch_public_key, challenge_, signatures.batch_signature) !=
        SignatureCheck::valid) {
      failure = ErrorCode::bad_batch_signature;
    } else if (lower(signatures.row_signature) != RowSigner(keys_->row_key).sign_hex(challenge_)) {
      failure = ErrorCode::bad_row_signature;
    }
    const std::string sidecar = sidecar_id_;
    auto self = shared_from_this();
    const std::string status = failure ? "suspended" : "registered";
    state_ = State::registering;  // nothing else is accepted until the status is committed
    service_->run_db<bool>(
        "marking sidecar " + sidecar + " " + status,
        [sidecar, status](pqxx::connection& c) { set_status(c, sidecar, status); return true; },
        [self, id, failure, sidecar](bool) {
          if (self->state_ == State::closed) {
            if (!failure) self->mark_terminated(sidecar);  // it closed while the row was written
            return;
          }
          if (failure) {
            ++self->service_->metrics_.challenges_failed;
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
          if (self->peer_) self->peer_->set_read_limit(self->service_->options_.max_message_size);
          spdlog::info("sidecar {} passed the challenge", self->describe());
          self->reply(id, protocol::encode_challenge_passed());
          self->service_->sidecar_registered(self);
        },
        [self, id] {
          self->state_ = State::challenged;
          self->error(id, {ErrorCode::internal_error, "Internal error"});
        });
  }

  void on_batch(const json& id, const json& params) {
    auto decoded = protocol::decode_batch_params(params);
    if (const auto* invalid = std::get_if<protocol::Error>(&decoded)) return error(id, *invalid);
    auto& delivered = std::get<protocol::BatchParams>(decoded);
    const std::string batch = delivered.batch_id;
    auto self = shared_from_this();
    service_->store_batch(KmsService::PendingBatch{
        NewBatch{batch, sidecar_id_, scope_, std::move(delivered.signature)},
        [self, id, batch](bool inserted) {
          if (!inserted) return self->error(id, {ErrorCode::batch_exists, "Batch with id " + batch + " already exists"});
          ++self->service_->metrics_.batches_received;
          self->reply(id, protocol::encode_batch_result(batch));
        },
        [self, id] { self->error(id, {ErrorCode::internal_error, "Internal error"}); }});
  }

  void on_inquiry_response(json& params) {
    auto response = protocol::decode_inquiry_response_params(params);
    if (!response) {
      ++service_->metrics_.inquiry_responses_refused;
      spdlog::warn("sidecar {} sent an inquiry-response without a valid inquiry id; ignored", describe());
      return;
    }
    const std::string inquiry_id = response->inquiry_id;
    const auto total = response->total;
    const auto item = response->item;
    const bool has_batch = response->batch_id.has_value();
    std::string dropped;
    // Out-of-range values (here -1) are judged like any other: they never count.
    std::optional<std::string> problem =
        service_->judge_inquiry_response(sidecar_id_, inquiry_id, total.value_or(-1), item.value_or(-1), has_batch, dropped);
    if (!dropped.empty()) {
      ++service_->metrics_.inquiry_responses_refused;
      spdlog::warn("sidecar {} answered inquiry {}, but {}; ignored", describe(), inquiry_id, dropped);
      return;
    }
    if (!total || !item) problem = "total and item must be integers";
    if (problem) {
      ++service_->metrics_.inquiry_responses_refused;
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
    auto self = shared_from_this();
    service_->run_db<bool>(
        "storing a response to inquiry " + inquiry_id,
        [inquiry_id, row = std::move(row)](pqxx::connection& c) {
          insert_inquiry_response(c, inquiry_id, row);
          return true;
        },
        [self, inquiry_id](bool) { self->service_->inquiry_response_stored(inquiry_id); }, [] {});
  }

  void on_reply(protocol::Response& message) {
    const std::string* id = message.id_text();
    if (id == nullptr || pending_healthchecks_.erase(lower(*id)) == 0) {
      spdlog::warn("sidecar {} sent a reply that matches no request; ignored", describe());
      return;
    }
    const json response = message.is_error ? json{{"error", std::move(message.payload)}} : std::move(message.payload);
    const std::string healthcheck = lower(*id);
    service_->run_db<bool>(
        "completing health check " + healthcheck,
        [healthcheck, response](pqxx::connection& c) { return complete_healthcheck(c, healthcheck, response); },
        [](bool) {}, [] {});
  }

  std::shared_ptr<KmsService> service_;
  std::string remote_;
  std::optional<TokenHash> token_hash_;  // of the upgrade's bearer token, if it had one
  asio::steady_timer registration_deadline_;
  std::shared_ptr<WsPeer> peer_;
  State state_ = State::connected;
  std::string sidecar_id_;
  std::string service_name_;
  std::string scope_;  // the credential it registered with, or kOpenScope
  std::shared_ptr<IssuedKeys> keys_;  // between register and challenge only
  std::string challenge_;
  std::set<std::string> pending_healthchecks_;
};

// ---------------------------------------------------------------------------------------------

struct KmsService::InquiryProgress {
  explicit InquiryProgress(asio::io_context& io) : timeout(io) {}
  std::map<std::string, AnswerProgress> asked;  // sidecar id -> what it sent that counted
  std::set<std::string> gone;                   // asked sidecars whose connection closed
  asio::steady_timer timeout;

  bool finished() const {
    return std::all_of(asked.begin(), asked.end(),
                       [&](const auto& a) { return a.second.complete() || gone.count(a.first) != 0; });
  }
};

KmsService::KmsService(asio::io_context& io, QueryWorker& db, const KeyVault& vault, KeySource& keys,
                       const Clock& clock, IdSource& ids, KmsServiceOptions options)
    : io_(io),
      db_(db),
      vault_(vault),
      keys_(keys),
      clock_(clock),
      ids_(ids),
      options_(std::move(options)),
      tokens_{options_.admin_token ? std::optional<TokenHash>(token_hash(*options_.admin_token)) : std::nullopt,
              options_.auditor_token ? std::optional<TokenHash>(token_hash(*options_.auditor_token)) : std::nullopt},
      prune_timer_(io) {}

KmsService::~KmsService() = default;

void KmsService::start() { prune_registrations(); }

void KmsService::prune_registrations() {
  const EpochMillis cutoff = clock_.now_ms() - options_.registration_retention.count();
  run_db<std::size_t>(
      "pruning registrations that never delivered a batch",
      [cutoff](pqxx::connection& c) { return fls::kms::prune_registrations(c, cutoff); },
      [](std::size_t pruned) {
        if (pruned != 0) spdlog::info("pruned {} closed registration(s) that never delivered a batch", pruned);
      },
      [] {});
  // Hourly, or as often as registrations expire when they are kept for less (once a second at most).
  prune_timer_.expires_after(std::clamp<std::chrono::milliseconds>(options_.registration_retention,
                                                                    std::chrono::seconds(1), std::chrono::hours(1)));
  prune_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->prune_registrations();
  });
}

template <class Result>
void KmsService::run_db(std::string what, std::function<Result(pqxx::connection&)> job,
                        std::function<void(Result)> done, std::function<void()> failed) {
  auto self = shared_from_this();
  db_.post(what, [self, what, job = std::move(job), done = std::move(done),
                  failed = std::move(failed)](pqxx::connection& connection) mutable {
    try {
      Result result = job(connection);
      asio::post(self->io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    } catch (...) {
      asio::post(self->io_, std::move(failed));
      throw;  // the worker logs it, with `what`
    }
  });
}

void KmsService::store_batch(PendingBatch batch) {
  {
    std::lock_guard lock(batches_mutex_);
    pending_batches_.push_back(std::move(batch));
    if (batches_job_queued_) return;  // the queued job takes this one too
    batches_job_queued_ = true;
  }
  auto self = shared_from_this();
  db_.post("storing batches", [self](pqxx::connection& connection) {
    std::vector<PendingBatch> batches;
    {
      std::lock_guard lock(self->batches_mutex_);
      batches.swap(self->pending_batches_);
      self->batches_job_queued_ = false;
    }
    std::vector<NewBatch> rows;
    rows.reserve(batches.size());
    for (auto& b : batches) rows.push_back(std::move(b.row));  // the callbacks hold what they need
    try {
      auto inserted = insert_batches(connection, rows);
      asio::post(self->io_, [batches = std::move(batches), inserted = std::move(inserted)] {
        for (std::size_t i = 0; i < batches.size(); ++i) batches[i].done(inserted[i]);
      });
    } catch (...) {
      asio::post(self->io_, [batches = std::move(batches)] {
        for (const auto& b : batches) b.failed();
      });
      throw;  // the worker logs it
    }
  });
}

std::shared_ptr<WsPeerHandler> KmsService::accept_sidecar(const HttpRequest& request, HttpResponse& refusal) {
  const BearerCredentials credentials = bearer_credentials(request);
  std::optional<TokenHash> hash;
  switch (credentials.status) {
    case BearerCredentials::Status::ok:
      hash = token_hash(credentials.token);
      break;
    case BearerCredentials::Status::absent:
      if (options_.registration == RegistrationMode::open) break;
      ++metrics_.registrations_refused;
      spdlog::warn("sidecar connection from {} refused: no credential (KMS_REGISTRATION=token)", request.remote);
      refusal = api_error(401, ApiError::unauthorized, "A credential is required to register (Authorization: Bearer <token>)");
      return nullptr;
    case BearerCredentials::Status::malformed:
      ++metrics_.registrations_refused;
      spdlog::warn("sidecar connection from {} refused: an Authorization header that is not a bearer token",
                   request.remote);
      refusal = api_error(401, ApiError::unauthorized, "The Authorization header must be 'Bearer <token>'");
      return nullptr;
    case BearerCredentials::Status::repeated:
      ++metrics_.registrations_refused;
      spdlog::warn("sidecar connection from {} refused: more than one Authorization header", request.remote);
      refusal = api_error(400, ApiError::repeated_authorization, "More than one Authorization header");
      return nullptr;
  }
  auto session = std::make_shared<SidecarSession>(shared_from_this(), request.remote, hash);
  sessions_.insert(session);
  return session;
}

void KmsService::close_all() {
  for (const auto& session : sessions_) session->close();
}

void KmsService::sidecar_registered(const std::shared_ptr<SidecarSession>& session) {
  registered_[session->sidecar_id()] = session;
}

void KmsService::sidecar_closed(const std::shared_ptr<SidecarSession>& session) {
  sessions_.erase(session);
  const auto it = registered_.find(session->sidecar_id());
  if (it != registered_.end() && it->second == session) registered_.erase(it);
  std::vector<std::string> finished;
  for (auto& [inquiry_id, progress] : inquiries_) {
    if (progress->asked.count(session->sidecar_id()) == 0) continue;
    progress->gone.insert(session->sidecar_id());
    if (progress->finished()) finished.push_back(inquiry_id);
  }
  for (const auto& id : finished) finish_inquiry(id);
}

std::optional<std::string> KmsService::judge_inquiry_response(const std::string& sender, const std::string& inquiry_id,
                                                              std::int64_t total, std::int64_t item, bool has_batch,
                                                              std::string& dropped) {
  const auto it = inquiries_.find(inquiry_id);
  if (it == inquiries_.end()) {
    dropped = "it is not open";
    return std::nullopt;
  }
  const auto answer = it->second->asked.find(sender);
  if (answer == it->second->asked.end()) {
    dropped = "it was not sent to this sidecar";
    return std::nullopt;
  }
  return answer->second.add(total, item, has_batch);
}

void KmsService::inquiry_response_stored(const std::string& inquiry_id) {
  const auto it = inquiries_.find(inquiry_id);
  if (it != inquiries_.end() && it->second->finished()) finish_inquiry(inquiry_id);
}

void KmsService::finish_inquiry(const std::string& inquiry_id) {
  const auto it = inquiries_.find(inquiry_id);
  if (it == inquiries_.end()) return;
  it->second->timeout.cancel();
  inquiries_.erase(it);
  run_db<bool>(
      "completing inquiry " + inquiry_id, [inquiry_id](pqxx::connection& c) { complete_inquiry(c, inquiry_id); return true; },
      [inquiry_id](bool) { spdlog::info("inquiry {} complete", inquiry_id); }, [] {});
}

// ---- admin API ----

namespace {

HttpResponse internal_error() { return api_error(500, ApiError::internal, "Internal error"); }

}  // namespace

void KmsService::handle_http(const HttpRequest& request, HttpRespond respond) {
  const auto segments = path_segments(request.target);
  const bool get = request.method == "GET";
  if (get && segments == std::vector<std::string>{"health"}) return respond(json_response(200, R"({"status":"OK"})"));
  if (get && segments == std::vector<std::string>{"metrics"}) return respond(metrics());

  HttpResponse refusal;
  const AdminRole role = role_of(request, tokens_, refusal);
  if (role == AdminRole::none) return respond(std::move(refusal));
  auto parsed = parse_admin_request(request, role);
  if (get) {
    if (auto* response = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*response));
    return carry_out(std::move(std::get<AdminCommand>(parsed)), std::move(respond));
  }

  // Every change is recorded: who (role and address), what (method, path, the id it concerned),
  // when, and how it was answered. Refused attempts too.
  auto self = shared_from_this();
  HttpRequest what{request.method, request.target, {}, {}, request.remote};  // without its body
  auto recorded = [self, role, request = std::move(what), respond = std::move(respond)](HttpResponse response) {
    ActionTarget target = action_target(request, response);
    AdminAction action{0, 0, role_name(role), request.remote, request.method, std::move(target.path),
                       std::move(target.target), response.status};
    self->run_db<bool>(
        "recording an admin action", [action](pqxx::connection& c) { insert_admin_action(c, action); return true; },
        [](bool) {}, [] {});
    respond(std::move(response));
  };
  if (auto* response = std::get_if<HttpResponse>(&parsed)) return recorded(std::move(*response));
  carry_out(std::move(std::get<AdminCommand>(parsed)), std::move(recorded));
}

void KmsService::carry_out(AdminCommand command, HttpRespond respond) {
  std::visit([&](auto& c) { carry_out(std::move(c), std::move(respond)); }, command);
}

void KmsService::carry_out(ListSidecars command, HttpRespond respond) {
  const Page page = command.page;
  run_db<std::vector<SidecarRow>>(
      "listing sidecars", [page](pqxx::connection& c) { return list_sidecars(c, page.offset, page.limit); },
      [respond, page](std::vector<SidecarRow> rows) {
        respond(page_response("/sidecars", page, rows, [](const SidecarRow& r) {
          return ordered_json{{"id", r.sidecar_id},
                              {"serviceName", r.service_name},
                              {"status", r.status},
                              {"credentialId", r.credential_id ? ordered_json(*r.credential_id) : ordered_json(nullptr)}};
        }));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(CreateCredential command, HttpRespond respond) {
  const CredentialRow row{ids_.next_uuid(), command.service, command.label, clock_.now_ms(), std::nullopt};
  const std::string token = new_credential_token();
  const TokenHash hash = token_hash(token);
  run_db<bool>(
      "creating credential " + row.credential_id,
      [row, hash](pqxx::connection& c) { insert_credential(c, row, hash); return true; },
      [respond, row, token](bool) {
        spdlog::info("credential {} created for service {}", row.credential_id, row.service_name);
        ordered_json out = credential_json(row);
        out["token"] = token;  // shown once: only its hash is kept
        HttpResponse created = json_response(201, dump(out));
        created.headers.emplace_back("Location", "/credentials/" + row.credential_id);
        respond(std::move(created));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(ListCredentials command, HttpRespond respond) {
  const Page page = command.page;
  run_db<std::vector<CredentialRow>>(
      "listing credentials", [page](pqxx::connection& c) { return list_credentials(c, page.offset, page.limit); },
      [respond, page](std::vector<CredentialRow> rows) {
        respond(page_response("/credentials", page, rows, credential_json));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(RevokeCredential command, HttpRespond respond) {
  auto self = shared_from_this();
  const std::string credential_id = command.credential_id;
  run_db<std::optional<CredentialRow>>(
      "revoking credential " + credential_id,
      [credential_id](pqxx::connection& c) { return fls::kms::revoke_credential(c, credential_id); },
      [self, respond, credential_id](std::optional<CredentialRow> row) {
        if (!row) {
          return respond(api_error(404, ApiError::credential_not_found,
                                   "Credential with id of " + credential_id + " does not exist"));
        }
        // Its sidecars lose their connections now; they cannot register again with it.
        std::size_t closed = 0;
        for (const auto& session : self->sessions_) {
          if (session->scope() == credential_id) {
            session->close(SidecarSession::websocket_policy_violation);
            ++closed;
          }
        }
        spdlog::info("credential {} of service {} revoked; {} connection(s) closed", credential_id, row->service_name,
                     closed);
        respond(json_response(200, dump(credential_json(*row))));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(RotateCredential command, HttpRespond respond) {
  const std::string credential_id = command.credential_id;
  const std::string token = new_credential_token();
  const TokenHash hash = token_hash(token);
  run_db<std::optional<CredentialRow>>(
      "replacing the token of credential " + credential_id,
      [credential_id, hash](pqxx::connection& c) { return replace_credential_token(c, credential_id, hash); },
      [respond, credential_id, token](std::optional<CredentialRow> row) {
        if (!row) {
          return respond(api_error(404, ApiError::credential_not_found,
                                   "Credential with id of " + credential_id + " does not exist or is revoked"));
        }
        spdlog::info("credential {} has a new token; the old one no longer registers", credential_id);
        ordered_json out = credential_json(*row);
        out["token"] = token;
        respond(json_response(200, dump(out)));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(ListAdminActions command, HttpRespond respond) {
  const Page page = command.page;
  run_db<std::vector<AdminAction>>(
      "listing admin actions", [page](pqxx::connection& c) { return list_admin_actions(c, page.offset, page.limit); },
      [respond, page](std::vector<AdminAction> rows) {
        respond(page_response("/admin-actions", page, rows, [](const AdminAction& a) {
          return ordered_json{{"id", a.action_id},
                              {"time", format_iso_millis(a.at_ms)},
                              {"role", a.role},
                              {"remote", a.remote},
                              {"method", a.method},
                              {"path", a.path},
                              {"target", a.target ? ordered_json(*a.target) : ordered_json(nullptr)},
                              {"status", a.status}};
        }));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(StartHealthcheck command, HttpRespond respond) {
  const auto session = registered_.find(command.sidecar_id);
  if (session == registered_.end()) {
    return respond(api_error(404, ApiError::sidecar_not_registered,
                             "Sidecar '" + command.sidecar_id + "' is not registered"));
  }
  HealthcheckRow row{ids_.next_uuid(), command.sidecar_id, command.level, clock_.now_ms(), std::nullopt};
  auto weak = std::weak_ptr<SidecarSession>(session->second);
  ++metrics_.healthchecks;
  run_db<bool>(
      "recording health check " + row.healthcheck_id, [row](pqxx::connection& c) { insert_healthcheck(c, row); return true; },
      [respond, row, weak](bool) {
        if (auto s = weak.lock()) s->send_healthcheck(row.healthcheck_id, row.level);
        respond(json_response(200, dump(ordered_json{{"id", row.healthcheck_id},
                                                     {"sidecarId", row.sidecar_id},
                                                     {"level", row.level},
                                                     {"created", format_iso_millis(row.created_ms)},
                                                     {"status", "pending"}})));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(ReadHealthcheck command, HttpRespond respond) {
  const std::string healthcheck_id = command.healthcheck_id;
  run_db<std::optional<HealthcheckRow>>(
      "reading health check " + healthcheck_id,
      [healthcheck_id](pqxx::connection& c) { return find_healthcheck(c, healthcheck_id); },
      [respond, healthcheck_id](std::optional<HealthcheckRow> row) {
        if (!row) {
          return respond(api_error(404, ApiError::healthcheck_not_found,
                                   "Health check with id of " + healthcheck_id + " does not exist"));
        }
        ordered_json out{{"id", row->healthcheck_id},
                         {"sidecarId", row->sidecar_id},
                         {"level", row->level},
                         {"created", format_iso_millis(row->created_ms)},
                         {"status", row->response ? "complete" : "pending"}};
        if (row->response) out["response"] = *row->response;
        respond(json_response(200, dump(out)));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(StartInquiry command, HttpRespond respond) {
  std::vector<std::shared_ptr<SidecarSession>> current;
  for (const auto& [id, session] : registered_) {
    if (session->service_name() == command.service) current.push_back(session);
  }
  if (current.empty()) {
    return respond(api_error(400, ApiError::no_current_sidecars,
                             "No current sidecars are registered for service '" + command.service + "'"));
  }
  InquiryRow row{ids_.next_uuid(), command.service, command.start, command.end, clock_.now_ms(), {}, false};
  for (const auto& session : current) row.asked.push_back(session->sidecar_id());
  ++metrics_.inquiries;
  auto self = shared_from_this();
  run_db<bool>(
      "recording inquiry " + row.inquiry_id, [row](pqxx::connection& c) { insert_inquiry(c, row); return true; },
      [self, row, respond, start_text = command.start_text, end_text = command.end_text](bool) {
        auto progress = std::make_unique<InquiryProgress>(self->io_);
        for (const auto& sidecar : row.asked) {
          progress->asked[sidecar];
          if (auto s = self->registered_.find(sidecar); s != self->registered_.end()) {
            s->second->send_inquiry(row.inquiry_id, start_text, end_text);
          } else {
            progress->gone.insert(sidecar);  // it left in the meantime
          }
        }
        progress->timeout.expires_after(self->options_.inquiry_timeout);
        progress->timeout.async_wait([weak = std::weak_ptr<KmsService>(self), id = row.inquiry_id](boost::system::error_code ec) {
          if (auto s = weak.lock(); s && !ec) s->finish_inquiry(id);
        });
        self->inquiries_[row.inquiry_id] = std::move(progress);
        spdlog::info("inquiry {} for service {} sent to {} sidecar(s)", row.inquiry_id, row.service_name, row.asked.size());
        HttpResponse created;
        created.status = 201;
        created.headers.emplace_back("Location", "/inquiry/" + row.inquiry_id);
        respond(created);
      },
      [respond] { respond(internal_error()); });
}

void KmsService::read_inquiry(const ReadInquiry& command, HttpRespond respond) {
  const std::string inquiry_id = command.inquiry_id;
  const auto timeout = options_.inquiry_timeout;
  const EpochMillis now = clock_.now_ms();
  const auto& vault = vault_;
  auto self = shared_from_this();
  run_db<std::optional<std::string>>(
      "reading inquiry " + inquiry_id,
      [inquiry_id, timeout, now, &vault, self](pqxx::connection& c) -> std::optional<std::string> {
        const auto inquiry = find_inquiry(c, inquiry_id);
        if (!inquiry) return std::nullopt;
        const auto responses = inquiry_responses(c, inquiry_id);
        const bool complete = inquiry->completed || now >= inquiry->created_ms + timeout.count();
        std::vector<std::string> senders;
        for (const auto& r : responses) senders.push_back(r.sidecar_id);
        const auto scopes = scopes_of(c, senders);
        // Each answer is judged within its sender's scope: only batches and row keys of the
        // sender's own credential can verify as its results.
        std::map<std::string, CachingKeyLookup> keys_by_scope;
        std::map<std::string, AnswerProgress> progress;
        for (const auto& sidecar : inquiry->asked) progress[sidecar];
        std::map<std::string, std::int64_t> totals;
        std::vector<ResultVerdict> results;
        ordered_json sender_problems = ordered_json::array();
        for (const auto& r : responses) {
          if (r.problem) {
            sender_problems.push_back({{"sidecarId", r.sidecar_id},
                                       {"batchId", r.batch_id ? ordered_json(*r.batch_id) : ordered_json(nullptr)},
                                       {"item", r.item},
                                       {"problem", *r.problem}});
            continue;
          }
          progress[r.sidecar_id].add(r.total, r.item, r.batch_id.has_value());  // counted when it arrived
          totals[r.sidecar_id] = std::max(totals[r.sidecar_id], r.total);
          if (!r.batch_id) continue;
          const auto scope_it = scopes.find(r.sidecar_id);
          const std::string scope = scope_it == scopes.end() ? std::string() : scope_it->second;
          auto keys = keys_by_scope.try_emplace(scope, c, vault, scope, inquiry->service_name).first;
          const auto known = find_batch(c, scope, *r.batch_id, inquiry->service_name);
          results.push_back(verify_result(*r.batch_id, r.body, known ? &*known : nullptr, keys->second));
          results.back().answered_by = r.sidecar_id;
        }
        InquiryAnswers answers;
        answers.sender_problems = sender_problems.size();
        for (const auto& sidecar : inquiry->asked) {
          if (!progress[sidecar].complete()) answers.unanswered.push_back(sidecar);
        }
        const auto summary =
            summarize(results, batches_in_window(c, inquiry->service_name, inquiry->start, inquiry->end), complete,
                      answers);
        std::int64_t total = 0;
        for (const auto& [sidecar, t] : totals) total += t;
        ordered_json out;
        out["status"] = complete ? "complete" : responses.empty() ? "created" : "pending";
        out["total"] = total;
        out["completed"] = results.size();
        out["results"] = ordered_json::array();
        std::size_t failed = 0;
        for (const auto& r : results) {
          failed += !r.verified;
          out["results"].push_back({{"id", r.batch_id},
                                    {"body", r.body},
                                    {"verified", r.verified},
                                    {"sidecarId", r.sidecar_id ? ordered_json(*r.sidecar_id) : ordered_json(nullptr)},
                                    {"answeredBy", r.answered_by},
                                    {"rows", r.rows},
                                    {"rowsVerified", r.rows_verified},
                                    {"problems", r.problems}});
        }
        out["verified"] = summary.verified;
        out["missing"] = summary.missing;
        out["unknown"] = summary.unknown;
        out["gaps"] = ordered_json::array();
        for (const auto& g : summary.gaps) out["gaps"].push_back({{"keyId", g.key_id}, {"after", g.after}, {"before", g.before}});
        out["unanswered"] = summary.unanswered;
        out["senderProblems"] = std::move(sender_problems);
        if (complete) self->metrics_.inquiry_results_failed += failed;  // counted each time a verdict is read
        return dump(out);
      },
      [respond, inquiry_id](std::optional<std::string> body) {
        if (!body) return respond(api_error(404, ApiError::not_found, "Inquiry with id of " + inquiry_id + " does not exist"));
        respond(json_response(200, std::move(*body)));
      },
      [respond] { respond(internal_error()); });
}

HttpResponse KmsService::metrics() const {
  PrometheusText out;
  out.gauge("fls_kms_sidecars_registered", "Sidecars connected and registered now.", registered_.size());
  out.counter("fls_kms_registrations_total", "Registrations accepted.", metrics_.registrations);
  out.counter("fls_kms_challenges_failed_total", "Challenges failed (sidecar suspended).", metrics_.challenges_failed);
  out.counter("fls_kms_batches_received_total", "Batch signatures received and stored.", metrics_.batches_received);
  out.counter("fls_kms_inquiries_total", "Inquiries started.", metrics_.inquiries);
  out.counter("fls_kms_verification_failures_total", "Inquiry results that failed verification, per verdict read.",
              metrics_.inquiry_results_failed);
  out.counter("fls_kms_registrations_refused_total",
              "Registrations refused: no valid credential, or over a registration limit.",
              metrics_.registrations_refused);
  out.counter("fls_kms_inquiry_responses_refused_total",
              "Inquiry responses that could not count as results (not asked, not open, malformed, repeated).",
              metrics_.inquiry_responses_refused);
  out.counter("fls_kms_healthchecks_total", "Health checks sent to sidecars.", metrics_.healthchecks);
  return metrics_response(out.text());
}

}  // namespace fls::kms
