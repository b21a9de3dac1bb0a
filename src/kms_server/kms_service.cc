#include "fls/kms_server/kms_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fls/common/iso_time.h"
#include "fls/common/prometheus.h"
#include "fls/http/authorization.h"
#include "fls/kms_server/inquiry_report.h"

namespace fls::kms {

namespace asio = boost::asio;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

ordered_json credential_json(const CredentialRow& row) {
  return ordered_json{
      {"id", row.credential_id},
      {"service", row.service_name},
      {"label", row.label},
      {"created", format_iso_millis(row.created_ms)},
      {"revoked", row.revoked_ms ? ordered_json(format_iso_millis(*row.revoked_ms)) : ordered_json(nullptr)}};
}

}  // namespace

KmsService::KmsService(asio::io_context& io, KmsStore& store, const KeyVault& vault, KeySource& keys,
                       const Clock& clock, IdSource& ids, KmsServiceOptions options)
    : io_(io),
      store_(store),
      vault_(vault),
      keys_(keys),
      clock_(clock),
      ids_(ids),
      options_(std::move(options)),
      tokens_{options_.admin_token ? std::optional<TokenHash>(token_hash(*options_.admin_token)) : std::nullopt,
              options_.auditor_token ? std::optional<TokenHash>(token_hash(*options_.auditor_token)) : std::nullopt},
      inquiry_deadline_(io),
      prune_timer_(io) {}

void KmsService::start() { prune_registrations(); }

void KmsService::prune_registrations() {
  const EpochMillis cutoff = clock_.now_ms() - options_.registration_retention.count();
  store_.prune_registrations(
      cutoff,
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
      refusal = api_error(401, ApiError::unauthorized,
                          "A credential is required to register (Authorization: Bearer <token>)");
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
  auto session = std::make_shared<SidecarSession>(
      SessionContext{io_, store_, vault_, keys_, metrics_,
                     SessionSettings{options_.registration, options_.registration_limits, options_.registration_timeout,
                                     options_.max_message_size}},
      shared_from_this(), request.remote, hash);
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
  for (const auto& id : inquiries_.sidecar_gone(session->sidecar_id())) finish_inquiry(id);
}

InquiryJudgement KmsService::judge_inquiry_response(const std::string& sender, const std::string& inquiry_id,
                                                    std::int64_t total, std::int64_t item, bool has_batch) {
  return inquiries_.judge(sender, inquiry_id, total, item, has_batch);
}

void KmsService::inquiry_response_stored(const std::string& inquiry_id, std::optional<StoredResponse> stored) {
  // Counted once, as each result is verified (a verdict may be read any number of times).
  if (stored && stored->result && !stored->verified) ++metrics_.inquiry_results_failed;
  inquiries_.stored(inquiry_id);
  if (inquiries_.finished(inquiry_id)) finish_inquiry(inquiry_id);
}

void KmsService::finish_inquiry(const std::string& inquiry_id) {
  if (!inquiries_.forget(inquiry_id)) return;
  arm_inquiry_deadline();
  store_.complete_inquiry(
      inquiry_id, [inquiry_id](bool) { spdlog::info("inquiry {} complete", inquiry_id); }, [] {});
}

// One timer for every inquiry: it fires at the earliest deadline, finishes what expired, and is
// set again for the next.
void KmsService::arm_inquiry_deadline() {
  const auto next = inquiries_.next_deadline();
  if (!next) {
    inquiry_deadline_.cancel();
    return;
  }
  inquiry_deadline_.expires_at(*next);
  inquiry_deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    for (const auto& id : self->inquiries_.expired(std::chrono::steady_clock::now())) self->finish_inquiry(id);
    self->arm_inquiry_deadline();
  });
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
    AdminAction action{0,
                       0,
                       role_name(role),
                       request.remote,
                       request.method,
                       std::move(target.path),
                       std::move(target.target),
                       response.status};
    self->store_.record_admin_action(
        std::move(action), [](bool) {}, [] {});
    respond(std::move(response));
  };
  if (auto* response = std::get_if<HttpResponse>(&parsed)) return recorded(std::move(*response));
  carry_out(std::move(std::get<AdminCommand>(parsed)), std::move(recorded));
}

void KmsService::carry_out(AdminCommand command, HttpRespond respond) {
  std::visit([&](auto& c) { carry_out(std::move(c), std::move(respond)); }, command);
}

void KmsService::carry_out(ReadInquiry command, HttpRespond respond) {
  const std::string inquiry_id = command.inquiry_id;
  const Page page = command.page;
  store_.read_inquiry(
      inquiry_id, clock_.now_ms(), options_.inquiry_timeout, page.offset, page.limit,
      [respond, inquiry_id, page](std::optional<InquiryReport> report) {
        if (!report) {
          return respond(api_error(404, ApiError::not_found, "Inquiry with id of " + inquiry_id + " does not exist"));
        }
        HttpResponse response = json_response(200, render_report(*report));
        if (report->more_results) add_next_page_link(response, "/inquiry/" + inquiry_id, page);
        respond(std::move(response));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(ListSidecars command, HttpRespond respond) {
  const Page page = command.page;
  store_.list_sidecars(
      page.offset, page.limit,
      [respond, page](std::vector<SidecarRow> rows) {
        respond(page_response("/sidecars", page, rows, [](const SidecarRow& r) {
          return ordered_json{
              {"id", r.sidecar_id},
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
  store_.create_credential(
      row, hash,
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
  store_.list_credentials(
      page.offset, page.limit,
      [respond, page](std::vector<CredentialRow> rows) {
        respond(page_response("/credentials", page, rows, credential_json));
      },
      [respond] { respond(internal_error()); });
}

void KmsService::carry_out(RevokeCredential command, HttpRespond respond) {
  auto self = shared_from_this();
  const std::string credential_id = command.credential_id;
  store_.revoke_credential(
      credential_id,
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
  store_.replace_credential_token(
      credential_id, hash,
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
  store_.list_admin_actions(
      page.offset, page.limit,
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
    return respond(
        api_error(404, ApiError::sidecar_not_registered, "Sidecar '" + command.sidecar_id + "' is not registered"));
  }
  HealthcheckRow row{ids_.next_uuid(), command.sidecar_id, command.level, clock_.now_ms(), std::nullopt};
  auto weak = std::weak_ptr<SidecarSession>(session->second);
  ++metrics_.healthchecks;
  store_.create_healthcheck(
      row,
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
  store_.find_healthcheck(
      healthcheck_id,
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
  // Inquiries being created count too: their rows are on the way to the database.
  if (inquiries_.size() + inquiries_starting_ >= options_.max_inquiries) {
    return respond(api_error(429, ApiError::too_many_inquiries,
                             std::to_string(options_.max_inquiries) +
                                 " inquiries are in progress, the most KMS_MAX_INQUIRIES allows; try again when one "
                                 "completes"));
  }
  InquiryRow row{ids_.next_uuid(), command.service, command.start, command.end, clock_.now_ms(), {}, false};
  for (const auto& session : current) row.asked.push_back(session->sidecar_id());
  ++metrics_.inquiries;
  auto self = shared_from_this();
  ++inquiries_starting_;
  store_.create_inquiry(
      row,
      [self, row, respond, start_text = command.start_text, end_text = command.end_text](bool) {
        --self->inquiries_starting_;
        std::set<std::string> gone;
        for (const auto& sidecar : row.asked) {
          if (auto s = self->registered_.find(sidecar); s != self->registered_.end()) {
            s->second->send_inquiry(row.inquiry_id, start_text, end_text);
          } else {
            gone.insert(sidecar);  // it left in the meantime
          }
        }
        self->inquiries_.track(row.inquiry_id, row.asked, gone,
                               std::chrono::steady_clock::now() + self->options_.inquiry_timeout);
        self->arm_inquiry_deadline();
        spdlog::info("inquiry {} for service {} sent to {} sidecar(s)", row.inquiry_id, row.service_name,
                     row.asked.size());
        HttpResponse created;
        created.status = 201;
        created.headers.emplace_back("Location", "/inquiry/" + row.inquiry_id);
        respond(created);
      },
      [self, respond] {
        --self->inquiries_starting_;
        respond(internal_error());
      });
}

HttpResponse KmsService::metrics() const {
  PrometheusText out;
  out.gauge("fls_kms_sidecars_registered", "Sidecars connected and registered now.", registered_.size());
  out.counter("fls_kms_registrations_total", "Registrations accepted.", metrics_.registrations);
  out.counter("fls_kms_challenges_failed_total", "Challenges failed (sidecar suspended).", metrics_.challenges_failed);
  out.counter("fls_kms_batches_received_total", "Batch signatures received and stored.", metrics_.batches_received);
  out.counter("fls_kms_inquiries_total", "Inquiries started.", metrics_.inquiries);
  out.counter("fls_kms_verification_failures_total", "Inquiry results that failed verification.",
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
