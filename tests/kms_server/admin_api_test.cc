// The admin API's rules (protocol.md §7, README "Admin API"), without a server: who a request
// speaks for, which command it is, and the exact 4xx for everything else, in the order the
// checks are made.
#include "fls/kms_server/admin_api.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace fls::kms {
namespace {

using json = nlohmann::json;

constexpr char kId[] = "0A1B2C3D-0000-4000-8000-00000000000F";
constexpr char kLowerId[] = "0a1b2c3d-0000-4000-8000-00000000000f";

HttpRequest request(std::string method, std::string target, std::string body = {}) {
  HttpRequest out;
  out.method = std::move(method);
  out.target = std::move(target);
  out.body = std::move(body);
  out.remote = "127.0.0.1:5000";
  return out;
}

HttpRequest with_bearer(HttpRequest r, const std::string& token) {
  r.headers.emplace_back("Authorization", "Bearer " + token);
  return r;
}

template <class Command>
Command command_of(const HttpRequest& r, AdminRole role = AdminRole::admin) {
  auto parsed = parse_admin_request(r, role);
  if (auto* refusal = std::get_if<HttpResponse>(&parsed)) {
    ADD_FAILURE() << r.method << " " << r.target << " was refused: " << refusal->status << " " << refusal->body;
    return Command{};
  }
  const auto* command = std::get_if<Command>(&std::get<AdminCommand>(parsed));
  if (command == nullptr) {
    ADD_FAILURE() << r.method << " " << r.target << " became another command";
    return Command{};
  }
  return *command;
}

// The refusal's status and {"code","message"}.
struct Refusal {
  unsigned status = 0;
  int code = 0;
  std::string message;
};

Refusal refusal_of(const HttpRequest& r, AdminRole role = AdminRole::admin) {
  auto parsed = parse_admin_request(r, role);
  const auto* response = std::get_if<HttpResponse>(&parsed);
  if (response == nullptr) {
    ADD_FAILURE() << r.method << " " << r.target << " was accepted";
    return {};
  }
  const json body = json::parse(response->body);
  return Refusal{response->status, body.value("code", 0), body.value("message", "")};
}

TEST(AdminRoles, TokensDecideTheRole) {
  const AdminTokens tokens{token_hash("admin-token-0123456789"), token_hash("auditor-token-0123456789")};
  HttpResponse refusal;
  EXPECT_EQ(role_of(with_bearer(request("GET", "/sidecars"), "admin-token-0123456789"), tokens, refusal),
            AdminRole::admin);
  EXPECT_EQ(role_of(with_bearer(request("GET", "/sidecars"), "auditor-token-0123456789"), tokens, refusal),
            AdminRole::auditor);
  EXPECT_EQ(role_of(with_bearer(request("GET", "/sidecars"), "admin-token-012345678"), tokens, refusal),
            AdminRole::none);
  EXPECT_EQ(refusal.status, 401u);
  EXPECT_EQ(json::parse(refusal.body)["code"], 40100);
  EXPECT_EQ(role_of(request("GET", "/sidecars"), tokens, refusal), AdminRole::none);
}

TEST(AdminRoles, WithoutAnAdminTokenEveryRequestIsTheAdmins) {
  HttpResponse refusal;
  EXPECT_EQ(role_of(request("POST", "/credentials"), AdminTokens{}, refusal), AdminRole::admin);
}

TEST(AdminRoles, TwoAuthorizationHeadersAreRefusedEvenWithoutTokens) {
  HttpRequest twice = with_bearer(with_bearer(request("GET", "/sidecars"), "a"), "b");
  HttpResponse refusal;
  EXPECT_EQ(role_of(twice, AdminTokens{}, refusal), AdminRole::none);
  EXPECT_EQ(refusal.status, 400u);
  EXPECT_EQ(json::parse(refusal.body)["code"], 40006);
}

TEST(AdminCommands, Listings) {
  EXPECT_EQ(command_of<ListSidecars>(request("GET", "/sidecars")).page.limit, Page::kDefaultLimit);
  const auto page = command_of<ListCredentials>(request("GET", "/credentials?limit=7&offset=21")).page;
  EXPECT_EQ(page.offset, 21u);
  EXPECT_EQ(page.limit, 7u);
  EXPECT_EQ(command_of<ListAdminActions>(request("GET", "/admin-actions?limit=1000")).page.limit, 1000u);
  for (const char* bad : {"/sidecars?limit=0", "/sidecars?limit=1001", "/sidecars?offset=-1",
                          "/sidecars?limit=", "/sidecars?offset=1e3", "/sidecars?offset=9999999999999999"}) {
    const Refusal refusal = refusal_of(request("GET", bad));
    EXPECT_EQ(refusal.status, 400u) << bad;
    EXPECT_EQ(refusal.code, 40014) << bad;
  }
}

TEST(AdminCommands, HealthChecks) {
  const auto start = command_of<StartHealthcheck>(request("POST", std::string("/sidecars/") + kId + "/healthchecks"));
  EXPECT_EQ(start.sidecar_id, kLowerId);
  EXPECT_EQ(start.level, "ping");
  EXPECT_EQ(command_of<StartHealthcheck>(
                request("POST", std::string("/sidecars/") + kId + "/healthchecks", R"({"level":"deep"})"))
                .level,
            "deep");
  EXPECT_EQ(refusal_of(request("POST", std::string("/sidecars/") + kId + "/healthchecks", R"({"level":1})")).code,
            40013);
  EXPECT_EQ(refusal_of(request("POST", std::string("/sidecars/") + kId + "/healthchecks", "[]")).code, 40000);
  EXPECT_EQ(refusal_of(request("POST", "/sidecars/nope/healthchecks")).message, "'nope' is not a valid UUID");
  EXPECT_EQ(command_of<ReadHealthcheck>(request("GET", std::string("/healthchecks/") + kId)).healthcheck_id, kLowerId);
}

TEST(AdminCommands, InquiryChecksInTheirOrder) {
  const auto inquiry = command_of<StartInquiry>(
      request("POST", "/inquiry",
              R"({"service":"ledger","startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-31T00:00:00Z"})"));
  EXPECT_EQ(inquiry.service, "ledger");
  EXPECT_EQ(inquiry.start_text, "2026-01-01T00:00:00Z");
  EXPECT_EQ(inquiry.end.epoch_seconds - inquiry.start.epoch_seconds, 30 * 24 * 3600);

  EXPECT_EQ(refusal_of(request("POST", "/inquiry", "not json")).code, 40000);
  EXPECT_EQ(refusal_of(request("POST", "/inquiry", R"({"service":"","startTime":"x"})")).code, 40011);
  const Refusal bad_end =
      refusal_of(request("POST", "/inquiry", R"({"service":"s","startTime":"2026-01-01T00:00:00Z"})"));
  EXPECT_EQ(bad_end.code, 40012);
  EXPECT_NE(bad_end.message.find("endTime"), std::string::npos);
  // Thirty days and a nanosecond is too long; an empty or reversed range too.
  for (const char* range : {R"("startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-31T00:00:00.000000001Z")",
                            R"("startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-01T00:00:00Z")",
                            R"("startTime":"2026-01-02T00:00:00Z","endTime":"2026-01-01T00:00:00Z")"}) {
    EXPECT_EQ(refusal_of(request("POST", "/inquiry", std::string(R"({"service":"s",)") + range + "}")).code, 40010)
        << range;
  }
  const auto read = command_of<ReadInquiry>(request("GET", std::string("/inquiry/") + kId));
  EXPECT_EQ(read.inquiry_id, kLowerId);
  EXPECT_EQ(read.page.offset, 0u);
  EXPECT_EQ(read.page.limit, Page::kDefaultLimit);
  const auto paged = command_of<ReadInquiry>(request("GET", std::string("/inquiry/") + kId + "?offset=200&limit=50"));
  EXPECT_EQ(paged.page.offset, 200u);
  EXPECT_EQ(paged.page.limit, 50u);
  EXPECT_EQ(refusal_of(request("GET", "/inquiry/x")).code, 40003);
  EXPECT_EQ(refusal_of(request("GET", "/inquiry/x?limit=0")).code, 40003) << "the id is checked first";
  EXPECT_EQ(refusal_of(request("GET", std::string("/inquiry/") + kId + "?limit=1001")).code, 40014);
}

TEST(AdminCommands, Credentials) {
  const auto created = command_of<CreateCredential>(request("POST", "/credentials", R"({"service":"s","label":"l"})"));
  EXPECT_EQ(created.service, "s");
  EXPECT_EQ(created.label, "l");
  EXPECT_EQ(refusal_of(request("POST", "/credentials", R"({"service":")" + std::string(201, 'x') + "\"}")).code, 40011);
  EXPECT_EQ(refusal_of(request("POST", "/credentials", R"({"service":"s","label":7})")).code, 40015);
  EXPECT_EQ(command_of<RevokeCredential>(request("DELETE", std::string("/credentials/") + kId)).credential_id,
            kLowerId);
  EXPECT_EQ(command_of<RotateCredential>(request("POST", std::string("/credentials/") + kId + "/token")).credential_id,
            kLowerId);
}

TEST(AdminCommands, TheAuditorReadsAndStartsInquiriesOnly) {
  EXPECT_EQ(command_of<ListSidecars>(request("GET", "/sidecars"), AdminRole::auditor).page.offset, 0u);
  command_of<StartInquiry>(
      request("POST", "/inquiry",
              R"({"service":"s","startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-02T00:00:00Z"})"),
      AdminRole::auditor);
  for (const HttpRequest& change :
       {request("POST", "/credentials", R"({"service":"s"})"), request("DELETE", std::string("/credentials/") + kId),
        request("POST", std::string("/credentials/") + kId + "/token"),
        request("POST", std::string("/sidecars/") + kId + "/healthchecks")}) {
    const Refusal refusal = refusal_of(change, AdminRole::auditor);
    EXPECT_EQ(refusal.status, 403u) << change.target;
    EXPECT_EQ(refusal.code, 40300) << change.target;
  }
  // The role is checked before the id: an auditor learns nothing from a malformed one.
  EXPECT_EQ(refusal_of(request("DELETE", "/credentials/nope"), AdminRole::auditor).code, 40300);
}

TEST(AdminCommands, UnknownRoutes) {
  const Refusal refusal = refusal_of(request("PUT", "/sidecars"));
  EXPECT_EQ(refusal.status, 404u);
  EXPECT_EQ(refusal.code, 40400);
  EXPECT_EQ(refusal.message, "No route for PUT /sidecars");
  EXPECT_EQ(refusal_of(request("GET", "/inquiry")).code, 40400);
}

TEST(AdminActions, TheTargetComesFromThePathOrTheAnswer) {
  HttpResponse ok = json_response(200, "{}");
  EXPECT_EQ(action_target(request("DELETE", std::string("/credentials/") + kId + "?x=1"), ok).target, kLowerId);
  EXPECT_EQ(action_target(request("DELETE", std::string("/credentials/") + kId + "?x=1"), ok).path,
            std::string("/credentials/") + kId);
  HttpResponse created = json_response(201, R"({"id":"c-1","token":"t"})");
  EXPECT_EQ(action_target(request("POST", "/credentials"), created).target, "c-1");
  HttpResponse located;
  located.status = 201;
  located.headers.emplace_back("Location", "/inquiry/i-9");
  EXPECT_EQ(action_target(request("POST", "/inquiry"), located).target, "i-9");
  // A refused request names no target the answer made up.
  EXPECT_FALSE(action_target(request("POST", "/credentials"), json_response(400, R"({"id":"x"})")).target);
}

TEST(AdminListings, LinkToTheNextPageOnlyWhenThereIsOne) {
  const Page page{10, 2};
  const std::vector<int> three{1, 2, 3};
  const auto with_more = page_response("/sidecars", page, three, [](int n) { return nlohmann::ordered_json(n); });
  EXPECT_EQ(with_more.body, "[1,2]");
  ASSERT_EQ(with_more.headers.size(), 1u);
  EXPECT_EQ(with_more.headers[0].second, "</sidecars?offset=12&limit=2>; rel=\"next\"");
  const auto last =
      page_response("/sidecars", page, std::vector<int>{1}, [](int n) { return nlohmann::ordered_json(n); });
  EXPECT_TRUE(last.headers.empty());
}

}  // namespace
}  // namespace fls::kms
