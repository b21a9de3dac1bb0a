#include "fls/kms_server/kms_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "fls/common/hex.h"
#include "fls/common/iso_time.h"
#include "fls/common/prometheus.h"
#include "fls/kms_server/kms_db.h"
#include "fls/kms_server/verdict.h"
#include "fls/signing/row_signer.h"

namespace fls::kms {

namespace asio = boost::asio;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kBatchExists = 120;
constexpr int kSidecarExists = 40001;
constexpr int kBadBatchSignature = 40004;
constexpr int kBadRowSignature = 40005;
constexpr std::int64_t kMaxInquirySeconds = 30LL * 24 * 3600;
constexpr std::int64_t kMaxInquiryItems = 1LL << 40;  // keeps sums of totals far from overflow

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string upper_hex(const std::uint8_t* bytes, std::size_t size) {
  std::string out = to_hex(bytes, size);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

const std::string* string_field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

std::string dump(const ordered_json& value) { return value.dump(-1, ' ', false, ordered_json::error_handler_t::replace); }

HttpResponse api_error(unsigned status, int code, const std::string& message) {
  return json_response(status, dump(ordered_json{{"code", code}, {"message", message}}));
}

bool instant_before(const Instant& a, const Instant& b) { return a < b; }

std::int64_t seconds_between(const Instant& a, const Instant& b) {
  return b.epoch_seconds - a.epoch_seconds - (b.nanos < a.nanos ? 1 : 0);
}

// Splits "/a/b/c?x" into {"a","b","c"}.
std::vector<std::string> path_segments(const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  for (std::size_t start = 1; start <= path.size();) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Keys for verification, opened from the database on the database thread and cached there.
class CachingKeyLookup final : public KeyLookup {
 public:
  CachingKeyLookup(pqxx::connection& connection, const KeyVault& vault) : connection_(connection), vault_(vault) {}
  const SidecarKeys* find(const std::string& sidecar_id) override {
    auto it = cache_.find(sidecar_id);
    if (it != cache_.end()) return &it->second;
    const auto sealed = keys_of(connection_, sidecar_id);
    if (!sealed || sealed->batch_public_key.size() != 32) return nullptr;
    auto row_key = vault_.open(sealed->row_key_sealed, 32);
    if (!row_key) return nullptr;
    SidecarKeys keys{sidecar_id, {}, std::move(*row_key)};
    std::copy(sealed->batch_public_key.begin(), sealed->batch_public_key.end(), keys.public_key.begin());
    return &cache_.emplace(sidecar_id, std::move(keys)).first->second;
  }

 private:
  pqxx::connection& connection_;
  const KeyVault& vault_;
  std::map<std::string, SidecarKeys> cache_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// One sidecar's WebSocket connection: register -> challenge -> registered (protocol.md §4).

class SidecarSession final : public WsPeerHandler, public std::enable_shared_from_this<SidecarSession> {
 public:
  enum class State { connected, registering, challenged, registered, closed };

  SidecarSession(std::shared_ptr<KmsService> service, std::string remote)
      : service_(std::move(service)), remote_(std::move(remote)) {}

  void on_open(std::shared_ptr<WsPeer> peer) override {
    peer_ = std::move(peer);
    spdlog::debug("sidecar connection from {}", remote_);
  }

  void on_text(std::string text) override {
    const json message = json::parse(text, nullptr, false);
    if (message.is_discarded()) {
      spdlog::warn("sidecar {} sent malformed JSON ({} bytes)", describe(), text.size());
      return error(nullptr, kParseError, "Parse error");
    }
    if (!message.is_object()) return error(nullptr, kInvalidRequest, "Invalid Request");
    const json id = message.contains("id") ? message["id"] : json(nullptr);
    if (!message.contains("method")) {
      if (message.contains("result") || message.contains("error")) return on_reply(message);
      return error(id, kInvalidRequest, "Invalid Request");
    }
    const std::string* method = string_field(message, "method");
    if (method == nullptr) return error(id, kInvalidRequest, "Invalid Request");
    const json params = message.contains("params") ? message["params"] : json(nullptr);
    const std::string name = lower(*method);
    if (name == "register" && state_ == State::connected) return on_register(id, params);
    if (name == "challenge" && state_ == State::challenged) return on_challenge(id, params);
    if (name == "batch" && state_ == State::registered) return on_batch(id, params);
    if (name == "inquiry-response" && state_ == State::registered) return on_inquiry_response(params);
    spdlog::warn("sidecar {} called '{}', which is not allowed now", describe(), *method);
    error(id, kMethodNotFound, "Method not found");
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
    send(ordered_json{{"jsonrpc", "2.0"}, {"id", healthcheck_id}, {"method", "healthcheck"}, {"params", {{"level", level}}}});
  }

  void send_inquiry(const std::string& inquiry_id, const std::string& start, const std::string& end) {
    send(ordered_json{{"jsonrpc", "2.0"},
                      {"id", inquiry_id},
                      {"method", "inquiry"},
                      {"params", {{"inquiry", inquiry_id}, {"startTime", start}, {"endTime", end}}}});
  }

  void close() {
    if (peer_) peer_->close();
  }

  const std::string& sidecar_id() const { return sidecar_id_; }
  const std::string& service_name() const { return service_name_; }
  State state() const { return state_; }

 private:
  void mark_terminated(const std::string& id) {
    service_->run_db<bool>("marking sidecar " + id + " terminated",
                           [id](pqxx::connection& c) { set_status(c, id, "terminated"); return true; },
                           [](bool) {}, [] {});
  }

  std::string describe() const { return sidecar_id_.empty() ? remote_ : sidecar_id_ + " (" + remote_ + ")"; }

  void send(const ordered_json& message) {
    if (peer_) peer_->send(dump(message));
  }
  void reply(const json& id, ordered_json result) {
    send(ordered_json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
  }
  void error(const json& id, int code, const std::string& message) {
    send(ordered_json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
  }

  void on_register(const json& id, const json& params) {
    const std::string* sidecar_id = string_field(params, "id");
    const std::string* service_name = string_field(params, "serviceName");
    if (sidecar_id == nullptr || !is_uuid(*sidecar_id) || service_name == nullptr || service_name->empty()) {
      return error(id, kInvalidParams, "Invalid params: id (a UUID) and serviceName are required");
    }
    state_ = State::registering;
    auto keys = std::make_shared<IssuedKeys>(KeyVault::issue());
    SealedKeys sealed{lower_uuid(*sidecar_id), service_->vault_.seal(keys->row_key),
                      service_->vault_.seal(keys->batch_secret_key),
                      std::vector<std::uint8_t>(keys->batch_public_key.begin(), keys->batch_public_key.end())};
    const std::string service = *service_name;
    auto self = shared_from_this();
    service_->run_db<bool>(
        "registering sidecar " + sealed.sidecar_id,
        [sealed, service](pqxx::connection& c) { return insert_sidecar(c, sealed.sidecar_id, service, sealed); },
        [self, id, keys, sidecar = sealed.sidecar_id, service](bool inserted) {
          if (self->state_ == State::closed) {
            if (inserted) self->mark_terminated(sidecar);  // it closed while the row was written
            return;
          }
          if (!inserted) {
            self->state_ = State::connected;
            spdlog::warn("sidecar {} tried to register an id that exists: {}", self->remote_, sidecar);
            return self->error(id, kSidecarExists, "Sidecar with id " + sidecar + " already exists");
          }
          self->sidecar_id_ = sidecar;
          self->service_name_ = service;
          self->keys_ = keys;
          self->challenge_ = to_hex(KeyVault::issue().row_key.data(), 16);
          self->state_ = State::challenged;
          ++self->service_->metrics_.registrations;
          spdlog::info("sidecar {} of service {} registered, challenge sent", self->describe(), service);
          self->reply(id, {{"id", sidecar},
                           {"batchKey", upper_hex(keys->batch_secret_key.data(), keys->batch_secret_key.size())},
                           {"rowKey", upper_hex(keys->row_key.data(), keys->row_key.size())},
                           {"challenge", self->challenge_}});
        },
        [self, id] {
          self->state_ = State::connected;
          self->error(id, kInternalError, "Internal error");
        });
  }

  void on_challenge(const json& id, const json& params) {
    const std::string* row_signature = string_field(params, "rowSignature");
    const std::string* batch_signature = string_field(params, "batchSignature");
    if (row_signature == nullptr || batch_signature == nullptr) {
      return error(id, kInvalidParams, "Invalid params: rowSignature and batchSignature are required");
    }
    // The batch signature is checked first, as the original KMS did.
    int failure = 0;
    auto signature = SecretBytes::from_hex(*batch_signature, crypto_sign_BYTES);
    if (!signature || crypto_sign_verify_detached(signature->data(),
                                                  reinterpret_cast<const unsigned char*>(challenge_.data()),
                                                  challenge_.size(), keys_->batch_public_key.data()) != 0) {
      failure = kBadBatchSignature;
    } else if (lower(*row_signature) != RowSigner(keys_->row_key).sign_hex(challenge_)) {
      failure = kBadRowSignature;
    }
    const std::string sidecar = sidecar_id_;
    auto self = shared_from_this();
    const std::string status = failure == 0 ? "registered" : "suspended";
    state_ = State::registering;  // nothing else is accepted until the status is committed
    service_->run_db<bool>(
        "marking sidecar " + sidecar + " " + status,
        [sidecar, status](pqxx::connection& c) { set_status(c, sidecar, status); return true; },
        [self, id, failure, sidecar](bool) {
          if (self->state_ == State::closed) {
            if (failure == 0) self->mark_terminated(sidecar);  // it closed while the row was written
            return;
          }
          if (failure != 0) {
            ++self->service_->metrics_.challenges_failed;
            spdlog::warn("sidecar {} failed the challenge ({}); suspended", self->describe(), failure);
            self->state_ = State::connected;
            self->keys_.reset();
            self->error(id, failure, failure == kBadBatchSignature ? "Invalid batch signature" : "Invalid row signature");
            self->sidecar_id_.clear();
            return self->close();
          }
          self->state_ = State::registered;
          self->keys_.reset();  // the KMS keeps only the sealed copies
          spdlog::info("sidecar {} passed the challenge", self->describe());
          self->reply(id, {{"status", "OK"}});
          self->service_->sidecar_registered(self);
        },
        [self, id] {
          self->state_ = State::challenged;
          self->error(id, kInternalError, "Internal error");
        });
  }

  void on_batch(const json& id, const json& params) {
    const std::string* batch_id = string_field(params, "id");
    const std::string* signature = string_field(params, "signature");
    if (batch_id == nullptr || !is_uuid(*batch_id) || signature == nullptr) {
      return error(id, kInvalidParams, "Invalid params: id (a UUID) and signature are required");
    }
    if (signature->find('\0') != std::string::npos) {
      return error(id, kInvalidParams, "Invalid params: signature must not contain NUL characters");
    }
    const std::string batch = lower_uuid(*batch_id);
    auto self = shared_from_this();
    service_->store_batch(KmsService::PendingBatch{
        NewBatch{batch, sidecar_id_, *signature},
        [self, id, batch](bool inserted) {
          if (!inserted) return self->error(id, kBatchExists, "Batch with id " + batch + " already exists");
          ++self->service_->metrics_.batches_received;
          self->reply(id, {{"id", batch}});
        },
        [self, id] { self->error(id, kInternalError, "Internal error"); }});
  }

  void on_inquiry_response(const json& params) {
    const std::string* inquiry = string_field(params, "inquiry");
    const auto total = params.find("total");
    const auto item = params.find("item");
    if (inquiry == nullptr || !is_uuid(*inquiry) || total == params.end() || item == params.end() ||
        !total->is_number_integer() || !item->is_number_integer() || total->get<std::int64_t>() < 0 ||
        total->get<std::int64_t>() > kMaxInquiryItems || item->get<std::int64_t>() < 0 ||
        item->get<std::int64_t>() > total->get<std::int64_t>()) {
      spdlog::warn("sidecar {} sent an inquiry-response without a valid inquiry, total and item; ignored", describe());
      return;
    }
    InquiryResponseRow row{sidecar_id_, std::nullopt, {}, total->get<std::int64_t>(), item->get<std::int64_t>()};
    const std::string* batch_id = string_field(params, "id");
    const std::string* body = string_field(params, "body");
    if (batch_id != nullptr && body != nullptr && is_uuid(*batch_id)) {
      row.batch_id = lower_uuid(*batch_id);
      row.body = *body;
    }
    const std::string inquiry_id = lower_uuid(*inquiry);
    auto self = shared_from_this();
    service_->run_db<bool>(
        "storing a response to inquiry " + inquiry_id,
        [inquiry_id, row](pqxx::connection& c) {
          if (!find_inquiry(c, inquiry_id)) return false;
          insert_inquiry_response(c, inquiry_id, row);
          return true;
        },
        [self, inquiry_id, row](bool stored) {
          if (!stored) {
            spdlog::warn("sidecar {} answered unknown inquiry {}; ignored", self->describe(), inquiry_id);
            return;
          }
          self->service_->inquiry_response(self->sidecar_id_, inquiry_id, row.total, row.item, row.batch_id.has_value());
        },
        [] {});
  }

  void on_reply(const json& message) {
    const std::string* id = string_field(message, "id");
    if (id == nullptr || pending_healthchecks_.erase(lower(*id)) == 0) {
      spdlog::warn("sidecar {} sent a reply that matches no request; ignored", describe());
      return;
    }
    const json response = message.contains("result") ? message["result"] : json{{"error", message["error"]}};
    const std::string healthcheck = lower(*id);
    service_->run_db<bool>(
        "completing health check " + healthcheck,
        [healthcheck, response](pqxx::connection& c) { return complete_healthcheck(c, healthcheck, response); },
        [](bool) {}, [] {});
  }

  std::shared_ptr<KmsService> service_;
  std::string remote_;
  std::shared_ptr<WsPeer> peer_;
  State state_ = State::connected;
  std::string sidecar_id_;
  std::string service_name_;
  std::shared_ptr<IssuedKeys> keys_;  // between register and challenge only
  std::string challenge_;
  std::set<std::string> pending_healthchecks_;
};

// ---------------------------------------------------------------------------------------------

struct KmsService::InquiryProgress {
  explicit InquiryProgress(asio::io_context& io) : timeout(io) {}
  struct Answer {
    std::int64_t total = -1;
    std::set<std::int64_t> items;
    bool done = false;
  };
  std::map<std::string, Answer> asked;  // sidecar id -> progress
  asio::steady_timer timeout;
};

KmsService::KmsService(asio::io_context& io, QueryWorker& db, const KeyVault& vault, const Clock& clock, IdSource& ids,
                       KmsServiceOptions options)
    : io_(io), db_(db), vault_(vault), clock_(clock), ids_(ids), options_(std::move(options)) {}

KmsService::~KmsService() = default;

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

std::shared_ptr<WsPeerHandler> KmsService::accept_sidecar(const HttpRequest& request) {
  auto session = std::make_shared<SidecarSession>(shared_from_this(), request.remote);
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
    auto answer = progress->asked.find(session->sidecar_id());
    if (answer == progress->asked.end()) continue;
    answer->second.done = true;
    if (std::all_of(progress->asked.begin(), progress->asked.end(), [](const auto& a) { return a.second.done; })) {
      finished.push_back(inquiry_id);
    }
  }
  for (const auto& id : finished) finish_inquiry(id);
}

void KmsService::inquiry_response(const std::string& sidecar_id, const std::string& inquiry_id, std::int64_t total,
                                  std::int64_t item, bool has_batch) {
  const auto it = inquiries_.find(inquiry_id);
  if (it == inquiries_.end()) return;
  auto answer = it->second->asked.find(sidecar_id);
  if (answer == it->second->asked.end()) return;
  auto& a = answer->second;
  a.total = total;
  if (has_batch) a.items.insert(item);
  a.done = total == 0 || (!a.items.empty() && static_cast<std::int64_t>(a.items.size()) >= total &&
                          *a.items.begin() == 1 && *a.items.rbegin() == total);
  const auto& asked = it->second->asked;
  if (std::all_of(asked.begin(), asked.end(), [](const auto& entry) { return entry.second.done; })) {
    finish_inquiry(inquiry_id);
  }
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

void KmsService::handle_http(const HttpRequest& request, HttpRespond respond) {
  const auto segments = path_segments(request.target);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (get && segments == std::vector<std::string>{"health"}) return respond(json_response(200, R"({"status":"OK"})"));
  if (get && segments == std::vector<std::string>{"metrics"}) return respond(metrics());

  if (options_.admin_token) {
    const std::string header = request.header("Authorization");
    const std::string expected = "Bearer " + *options_.admin_token;
    if (header.size() != expected.size() || sodium_memcmp(header.data(), expected.data(), expected.size()) != 0) {
      return respond(api_error(401, 40100, "A valid admin token is required (Authorization: Bearer <token>)"));
    }
  }
  auto uuid_segment = [&](std::size_t index, std::string& out) {
    if (!is_uuid(segments[index])) {
      respond(api_error(400, 40003, "'" + segments[index] + "' is not a valid UUID"));
      return false;
    }
    out = lower_uuid(segments[index]);
    return true;
  };
  std::string id;
  if (get && segments == std::vector<std::string>{"sidecars"}) return get_sidecars(std::move(respond));
  if (post && segments.size() == 3 && segments[0] == "sidecars" && segments[2] == "healthchecks") {
    if (uuid_segment(1, id)) post_healthcheck(id, request, std::move(respond));
    return;
  }
  if (get && segments.size() == 2 && segments[0] == "healthchecks") {
    if (uuid_segment(1, id)) get_healthcheck(id, std::move(respond));
    return;
  }
  if (post && segments == std::vector<std::string>{"inquiry"}) return post_inquiry(request, std::move(respond));
  if (get && segments.size() == 2 && segments[0] == "inquiry") {
    if (uuid_segment(1, id)) get_inquiry(id, std::move(respond));
    return;
  }
  respond(api_error(404, 40400, "No route for " + request.method + " " + request.target.substr(0, 200)));
}

void KmsService::get_sidecars(HttpRespond respond) {
  run_db<std::vector<SidecarRow>>(
      "listing sidecars", [](pqxx::connection& c) { return list_sidecars(c); },
      [respond](std::vector<SidecarRow> rows) {
        ordered_json out = ordered_json::array();
        for (const auto& r : rows) out.push_back({{"id", r.sidecar_id}, {"serviceName", r.service_name}, {"status", r.status}});
        respond(json_response(200, dump(out)));
      },
      [respond] { respond(api_error(500, 50000, "Internal error")); });
}

void KmsService::post_healthcheck(const std::string& sidecar_id, const HttpRequest& request, HttpRespond respond) {
  const json body = request.body.empty() ? json::object() : json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return respond(api_error(400, 40000, "The request body must be a JSON object"));
  }
  std::string level = "ping";
  if (body.contains("level")) {
    if (!body["level"].is_string()) return respond(api_error(400, 40013, "level must be a string"));
    level = body["level"];
  }
  const auto session = registered_.find(sidecar_id);
  if (session == registered_.end()) {
    return respond(api_error(404, 40401, "Sidecar '" + sidecar_id + "' is not registered"));
  }
  HealthcheckRow row{ids_.next_uuid(), sidecar_id, level, clock_.now_ms(), std::nullopt};
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
      [respond] { respond(api_error(500, 50000, "Internal error")); });
}

void KmsService::get_healthcheck(const std::string& healthcheck_id, HttpRespond respond) {
  run_db<std::optional<HealthcheckRow>>(
      "reading health check " + healthcheck_id,
      [healthcheck_id](pqxx::connection& c) { return find_healthcheck(c, healthcheck_id); },
      [respond, healthcheck_id](std::optional<HealthcheckRow> row) {
        if (!row) return respond(api_error(404, 40402, "Health check with id of " + healthcheck_id + " does not exist"));
        ordered_json out{{"id", row->healthcheck_id},
                         {"sidecarId", row->sidecar_id},
                         {"level", row->level},
                         {"created", format_iso_millis(row->created_ms)},
                         {"status", row->response ? "complete" : "pending"}};
        if (row->response) out["response"] = *row->response;
        respond(json_response(200, dump(out)));
      },
      [respond] { respond(api_error(500, 50000, "Internal error")); });
}

void KmsService::post_inquiry(const HttpRequest& request, HttpRespond respond) {
  const json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return respond(api_error(400, 40000, "The request body must be a JSON object"));
  }
  const std::string* service = string_field(body, "service");
  if (service == nullptr || service->empty()) {
    return respond(api_error(400, 40011, "service must be a non-empty string"));
  }
  std::optional<Instant> times[2];
  const char* names[2] = {"startTime", "endTime"};
  for (int i = 0; i < 2; ++i) {
    const std::string* text = string_field(body, names[i]);
    if (text != nullptr) times[i] = parse_iso_instant(*text);
    if (!times[i]) {
      return respond(api_error(400, 40012, std::string(names[i]) + " must be an ISO-8601 UTC instant, e.g. 2017-07-14T14:16:15.123Z"));
    }
  }
  if (!instant_before(*times[0], *times[1]) || seconds_between(*times[0], *times[1]) > kMaxInquirySeconds ||
      (seconds_between(*times[0], *times[1]) == kMaxInquirySeconds && times[1]->nanos != times[0]->nanos &&
       times[1]->nanos > times[0]->nanos)) {
    return respond(api_error(400, 40010, "Date range must be greater than 0 and less than 30 days"));
  }
  std::vector<std::shared_ptr<SidecarSession>> current;
  for (const auto& [id, session] : registered_) {
    if (session->service_name() == *service) current.push_back(session);
  }
  if (current.empty()) {
    return respond(api_error(400, 40002, "No current sidecars are registered for service '" + *service + "'"));
  }
  InquiryRow row{ids_.next_uuid(), *service, *times[0], *times[1], clock_.now_ms(), {}, false};
  for (const auto& session : current) row.asked.push_back(session->sidecar_id());
  ++metrics_.inquiries;
  const std::string start_text = *string_field(body, "startTime");
  const std::string end_text = *string_field(body, "endTime");
  auto self = shared_from_this();
  run_db<bool>(
      "recording inquiry " + row.inquiry_id, [row](pqxx::connection& c) { insert_inquiry(c, row); return true; },
      [self, row, respond, start_text, end_text](bool) {
        auto progress = std::make_unique<InquiryProgress>(self->io_);
        for (const auto& sidecar : row.asked) {
          progress->asked[sidecar];
          if (auto s = self->registered_.find(sidecar); s != self->registered_.end()) {
            s->second->send_inquiry(row.inquiry_id, start_text, end_text);
          } else {
            progress->asked[sidecar].done = true;  // it left in the meantime
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
      [respond] { respond(api_error(500, 50000, "Internal error")); });
}

void KmsService::get_inquiry(const std::string& inquiry_id, HttpRespond respond) {
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
        std::map<std::string, std::int64_t> totals;
        CachingKeyLookup keys(c, vault);
        std::vector<ResultVerdict> results;
        for (const auto& r : responses) {
          totals[r.sidecar_id] = std::max(totals[r.sidecar_id], r.total);
          if (!r.batch_id) continue;
          const auto known = find_batch(c, *r.batch_id);
          results.push_back(verify_result(*r.batch_id, r.body, known ? &*known : nullptr, keys));
        }
        const auto summary =
            summarize(results, batches_in_window(c, inquiry->service_name, inquiry->start, inquiry->end), complete);
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
                                    {"rows", r.rows},
                                    {"rowsVerified", r.rows_verified},
                                    {"problems", r.problems}});
        }
        out["verified"] = summary.verified;
        out["missing"] = summary.missing;
        out["unknown"] = summary.unknown;
        out["gaps"] = ordered_json::array();
        for (const auto& g : summary.gaps) out["gaps"].push_back({{"keyId", g.key_id}, {"after", g.after}, {"before", g.before}});
        if (complete) self->metrics_.inquiry_results_failed += failed;  // counted each time a verdict is read
        return dump(out);
      },
      [respond, inquiry_id](std::optional<std::string> body) {
        if (!body) return respond(api_error(404, 40400, "Inquiry with id of " + inquiry_id + " does not exist"));
        respond(json_response(200, std::move(*body)));
      },
      [respond] { respond(api_error(500, 50000, "Internal error")); });
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
  out.counter("fls_kms_healthchecks_total", "Health checks sent to sidecars.", metrics_.healthchecks);
  return metrics_response(out.text());
}

}  // namespace fls::kms
