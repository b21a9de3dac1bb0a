#pragma once
// The admin API of fls-kms (protocol.md §7), as pure functions: who a request speaks for, and
// which validated command it is, or the 4xx it gets. Nothing here touches a socket, the
// database or the live sidecars; KmsService carries the commands out.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fls/common/iso_time.h"
#include "fls/http/http_server.h"
#include "fls/kms_server/tokens.h"

namespace fls::kms {

// The codes of the admin API's error bodies, {"code","message"}.
enum class ApiError : int {
  malformed_body = 40000,
  no_current_sidecars = 40002,
  invalid_uuid = 40003,
  repeated_authorization = 40006,
  bad_range = 40010,
  bad_service = 40011,
  bad_time = 40012,
  bad_level = 40013,
  bad_page = 40014,
  bad_label = 40015,
  unauthorized = 40100,
  forbidden = 40300,
  not_found = 40400,  // no such route, or no such inquiry
  sidecar_not_registered = 40401,
  healthcheck_not_found = 40402,
  credential_not_found = 40403,
  too_many_inquiries = 42900,  // KMS_MAX_INQUIRIES are in progress
  internal = 50000,
};

HttpResponse api_error(unsigned status, ApiError code, const std::string& message);

// Who an admin request speaks for.
enum class AdminRole { none, auditor, admin };

const char* role_name(AdminRole role);

struct AdminTokens {
  std::optional<TokenHash> admin;    // none (dev mode only): every request is the admin's
  std::optional<TokenHash> auditor;  // may read and start inquiries
};

// The role of `request`'s bearer token; AdminRole::none with `refusal` set when it has none.
AdminRole role_of(const HttpRequest& request, const AdminTokens& tokens, HttpResponse& refusal);

// A listing's window: ?offset=&limit=.
struct Page {
  static constexpr std::size_t kDefaultLimit = 100;
  static constexpr std::size_t kMaxLimit = 1000;
  std::size_t offset = 0;
  std::size_t limit = kDefaultLimit;
};

struct ListSidecars {
  Page page;
};
struct StartHealthcheck {
  std::string sidecar_id;  // lower case
  std::string level;
};
struct ReadHealthcheck {
  std::string healthcheck_id;
};
struct StartInquiry {
  std::string service;
  Instant start;
  Instant end;
  std::string start_text;  // as posted: sent to the sidecars as they are
  std::string end_text;
};
struct ReadInquiry {
  std::string inquiry_id;
  Page page;  // of its results
};
struct ListCredentials {
  Page page;
};
struct CreateCredential {
  std::string service;
  std::string label;
};
struct RevokeCredential {
  std::string credential_id;
};
struct RotateCredential {
  std::string credential_id;
};
struct ListAdminActions {
  Page page;
};

using AdminCommand =
    std::variant<ListSidecars, StartHealthcheck, ReadHealthcheck, StartInquiry, ReadInquiry, ListCredentials,
                 CreateCredential, RevokeCredential, RotateCredential, ListAdminActions>;

// The command `request` asks for, checked in the order protocol.md §7 gives, or the response
// that refuses it (4xx). `role` is not none.
std::variant<AdminCommand, HttpResponse> parse_admin_request(const HttpRequest& request, AdminRole role);

// The path's segments: "/a/b/c?x" -> {"a","b","c"}.
std::vector<std::string> path_segments(const std::string& target);

// The admin action a change is recorded as: the path (without query, at most 200 characters)
// and the id it concerned, from the path, or else from the answer's "id" or Location.
struct ActionTarget {
  std::string path;
  std::optional<std::string> target;
};
ActionTarget action_target(const HttpRequest& request, const HttpResponse& response);

// One page of a listing: the first `page.limit` of `rows` (which holds one more when there are
// more), with a Link header to the next page.
template <class Row, class ToJson>
HttpResponse page_response(const std::string& path, const Page& page, const std::vector<Row>& rows, ToJson to_json) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < rows.size() && i < page.limit; ++i) out.push_back(to_json(rows[i]));
  return page_response(path, page, out, rows.size() > page.limit);
}
HttpResponse page_response(const std::string& path, const Page& page, const nlohmann::ordered_json& rows,
                           bool has_more);
// The Link header to the page after `page` of `path`.
void add_next_page_link(HttpResponse& response, const std::string& path, const Page& page);

// The one way the admin API writes JSON: compact, invalid UTF-8 replaced rather than thrown on.
std::string dump(const nlohmann::ordered_json& value);

}  // namespace fls::kms
