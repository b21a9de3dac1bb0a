#include "fls/kms_server/admin_api.h"

#include "fls/common/ids.h"
#include "fls/common/json_input.h"
#include "fls/http/authorization.h"

namespace fls::kms {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr std::int64_t kMaxInquirySeconds = 30LL * 24 * 3600;
constexpr std::size_t kMaxLabelSize = 200;
constexpr std::size_t kMaxServiceNameSize = 200;

const std::string* string_field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

std::optional<std::string> query_parameter(const std::string& target, const std::string& name) {
  const auto question = target.find('?');
  if (question == std::string::npos) return std::nullopt;
  const std::string query = target.substr(question + 1);
  for (std::size_t start = 0; start <= query.size();) {
    const auto amp = query.find('&', start);
    const std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (pair.compare(0, name.size() + 1, name + "=") == 0) return pair.substr(name.size() + 1);
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return std::nullopt;
}

using Parsed = std::variant<AdminCommand, HttpResponse>;

// ?offset=&limit= of a listing.
std::variant<Page, HttpResponse> page_of(const HttpRequest& request) {
  Page page;
  std::optional<HttpResponse> refusal;
  const auto read = [&](const char* name, std::size_t& value, std::size_t min, std::size_t max) {
    const auto text = query_parameter(request.target, name);
    if (!text) return true;
    std::size_t parsed = 0;
    bool ok = !text->empty() && text->size() <= 15;
    for (char c : *text) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) parsed = parsed * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!ok || parsed < min || parsed > max) {
      refusal = api_error(
          400, ApiError::bad_page,
          std::string(name) + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
    value = parsed;
    return true;
  };
  if (!read("offset", page.offset, 0, std::size_t{1} << 40) || !read("limit", page.limit, 1, Page::kMaxLimit)) {
    return std::move(*refusal);
  }
  return page;
}

template <class Command>
Parsed listing(const HttpRequest& request) {
  auto page = page_of(request);
  if (auto* refusal = std::get_if<HttpResponse>(&page)) return std::move(*refusal);
  return Command{std::get<Page>(page)};
}

Parsed body_not_an_object() {
  return api_error(400, ApiError::malformed_body, "The request body must be a JSON object");
}

Parsed start_healthcheck(std::string sidecar_id, const HttpRequest& request) {
  json body = json::object();
  if (!request.body.empty() && parse_external_json(request.body, body) != JsonInput::ok) body = nullptr;
  if (!body.is_object()) return body_not_an_object();
  std::string level = "ping";
  if (body.contains("level")) {
    if (!body["level"].is_string()) return api_error(400, ApiError::bad_level, "level must be a string");
    level = body["level"];
  }
  return StartHealthcheck{std::move(sidecar_id), std::move(level)};
}

std::int64_t seconds_between(const Instant& a, const Instant& b) {
  return b.epoch_seconds - a.epoch_seconds - (b.nanos < a.nanos ? 1 : 0);
}

Parsed start_inquiry(const HttpRequest& request) {
  json body;
  if (parse_external_json(request.body, body) != JsonInput::ok || !body.is_object()) return body_not_an_object();
  const std::string* service = string_field(body, "service");
  if (service == nullptr || service->empty()) {
    return api_error(400, ApiError::bad_service, "service must be a non-empty string");
  }
  std::optional<Instant> times[2];
  const char* names[2] = {"startTime", "endTime"};
  for (int i = 0; i < 2; ++i) {
    const std::string* text = string_field(body, names[i]);
    if (text != nullptr) times[i] = parse_iso_instant(*text);
    if (!times[i]) {
      return api_error(400, ApiError::bad_time,
                       std::string(names[i]) + " must be an ISO-8601 UTC instant, e.g. 2017-07-14T14:16:15.123Z");
    }
  }
  const Instant& start = *times[0];
  const Instant& end = *times[1];
  const std::int64_t seconds = seconds_between(start, end);
  // 0 < end - start <= 30 days, to the nanosecond.
  if (!(start < end) || seconds > kMaxInquirySeconds || (seconds == kMaxInquirySeconds && end.nanos > start.nanos)) {
    return api_error(400, ApiError::bad_range, "Date range must be greater than 0 and less than 30 days");
  }
  return StartInquiry{*service, start, end, *string_field(body, "startTime"), *string_field(body, "endTime")};
}

Parsed create_credential(const HttpRequest& request) {
  json body;
  if (parse_external_json(request.body, body) != JsonInput::ok || !body.is_object()) return body_not_an_object();
  const std::string* service = string_field(body, "service");
  if (service == nullptr || service->empty() || service->size() > kMaxServiceNameSize) {
    return api_error(400, ApiError::bad_service, "service must be a non-empty string of at most 200 characters");
  }
  std::string label;
  if (body.contains("label")) {
    const std::string* given = string_field(body, "label");
    if (given == nullptr || given->size() > kMaxLabelSize) {
      return api_error(400, ApiError::bad_label, "label must be a string of at most 200 characters");
    }
    label = *given;
  }
  return CreateCredential{*service, std::move(label)};
}

}  // namespace

HttpResponse api_error(unsigned status, ApiError code, const std::string& message) {
  return json_response(status, dump(ordered_json{{"code", static_cast<int>(code)}, {"message", message}}));
}

std::string dump(const ordered_json& value) {
  return value.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

const char* role_name(AdminRole role) { return role == AdminRole::admin ? "admin" : "auditor"; }

AdminRole role_of(const HttpRequest& request, const AdminTokens& tokens, HttpResponse& refusal) {
  const BearerCredentials credentials = bearer_credentials(request);
  if (credentials.status == BearerCredentials::Status::repeated) {
    refusal = api_error(400, ApiError::repeated_authorization, "More than one Authorization header");
    return AdminRole::none;
  }
  if (!tokens.admin) return AdminRole::admin;  // development mode without a token
  if (credentials.status == BearerCredentials::Status::ok) {
    const TokenHash presented = token_hash(credentials.token);
    if (same_hash(presented, *tokens.admin)) return AdminRole::admin;
    if (tokens.auditor && same_hash(presented, *tokens.auditor)) return AdminRole::auditor;
  }
  refusal = api_error(401, ApiError::unauthorized,
                      "A valid admin or auditor token is required (Authorization: Bearer <token>)");
  return AdminRole::none;
}

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

std::variant<AdminCommand, HttpResponse> parse_admin_request(const HttpRequest& request, AdminRole role) {
  const auto segments = path_segments(request.target);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  const bool del = request.method == "DELETE";
  const auto forbidden = [] {
    return api_error(403, ApiError::forbidden, "The auditor token may only read and start inquiries");
  };
  // The id in segment `index`, lower case, or the 400 for a segment that is no UUID.
  const auto uuid_at = [&](std::size_t index) -> std::variant<std::string, HttpResponse> {
    if (!is_uuid(segments[index])) {
      return api_error(400, ApiError::invalid_uuid, "'" + segments[index] + "' is not a valid UUID");
    }
    return lower_uuid(segments[index]);
  };
  // Runs `make` with the id, or passes the refusal on.
  const auto with_uuid = [&](std::size_t index, auto make) -> Parsed {
    auto id = uuid_at(index);
    if (auto* refusal = std::get_if<HttpResponse>(&id)) return std::move(*refusal);
    return make(std::move(std::get<std::string>(id)));
  };
  const bool admin = role == AdminRole::admin;

  if (get && segments == std::vector<std::string>{"sidecars"}) return listing<ListSidecars>(request);
  if (post && segments.size() == 3 && segments[0] == "sidecars" && segments[2] == "healthchecks") {
    if (!admin) return forbidden();
    return with_uuid(1, [&](std::string id) { return start_healthcheck(std::move(id), request); });
  }
  if (get && segments.size() == 2 && segments[0] == "healthchecks") {
    return with_uuid(1, [](std::string id) -> Parsed { return ReadHealthcheck{std::move(id)}; });
  }
  if (post && segments == std::vector<std::string>{"inquiry"}) return start_inquiry(request);
  if (get && segments.size() == 2 && segments[0] == "inquiry") {
    return with_uuid(1, [&](std::string id) -> Parsed {
      auto page = page_of(request);
      if (auto* refusal = std::get_if<HttpResponse>(&page)) return std::move(*refusal);
      return ReadInquiry{std::move(id), std::get<Page>(page)};
    });
  }
  if (segments == std::vector<std::string>{"credentials"} && (get || post)) {
    if (get) return listing<ListCredentials>(request);
    if (!admin) return forbidden();
    return create_credential(request);
  }
  if (del && segments.size() == 2 && segments[0] == "credentials") {
    if (!admin) return forbidden();
    return with_uuid(1, [](std::string id) -> Parsed { return RevokeCredential{std::move(id)}; });
  }
  if (post && segments.size() == 3 && segments[0] == "credentials" && segments[2] == "token") {
    if (!admin) return forbidden();
    return with_uuid(1, [](std::string id) -> Parsed { return RotateCredential{std::move(id)}; });
  }
  if (get && segments == std::vector<std::string>{"admin-actions"}) return listing<ListAdminActions>(request);
  return api_error(404, ApiError::not_found, "No route for " + request.method + " " + request.target.substr(0, 200));
}

ActionTarget action_target(const HttpRequest& request, const HttpResponse& response) {
  ActionTarget out{request.target.substr(0, request.target.find('?')).substr(0, 200), std::nullopt};
  for (const auto& segment : path_segments(request.target)) {
    if (is_uuid(segment)) out.target = lower_uuid(segment);
  }
  if (!out.target && response.status < 300) {
    json body;
    if (parse_external_json(response.body, body) == JsonInput::ok) {
      if (const std::string* id = string_field(body, "id")) out.target = *id;
    }
    for (const auto& [name, value] : response.headers) {
      if (name == "Location") out.target = value.substr(value.rfind('/') + 1);
    }
  }
  return out;
}

void add_next_page_link(HttpResponse& response, const std::string& path, const Page& page) {
  response.headers.emplace_back("Link", "<" + path + "?offset=" + std::to_string(page.offset + page.limit) +
                                            "&limit=" + std::to_string(page.limit) + ">; rel=\"next\"");
}

HttpResponse page_response(const std::string& path, const Page& page, const ordered_json& rows, bool has_more) {
  HttpResponse response = json_response(200, dump(rows));
  if (has_more) add_next_page_link(response, path, page);
  return response;
}

}  // namespace fls::kms
