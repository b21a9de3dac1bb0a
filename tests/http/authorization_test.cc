// Bearer credentials from the Authorization header (RFC 6750, RFC 7235: the scheme in any case).
#include "fls/http/authorization.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "fls/http/http_server.h"

namespace fls {
namespace {

using Status = BearerCredentials::Status;

BearerCredentials of(std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest request;
  request.method = "GET";
  request.target = "/sidecars";
  request.headers = std::move(headers);
  return bearer_credentials(request);
}

TEST(BearerCredentials, NoHeaderIsAbsent) {
  const auto c = of({{"Host", "kms"}});
  EXPECT_EQ(c.status, Status::absent);
  EXPECT_EQ(c.token, "");
}

TEST(BearerCredentials, BearerTokenIsOk) {
  const auto c = of({{"Host", "kms"}, {"Authorization", "Bearer fls_abc123"}});
  EXPECT_EQ(c.status, Status::ok);
  EXPECT_EQ(c.token, "fls_abc123");
}

TEST(BearerCredentials, SchemeAndHeaderNameInAnyCase) {
  for (const char* scheme : {"bearer", "BEARER", "bEaReR"}) {
    const auto c = of({{"authorization", std::string(scheme) + " t0k"}});
    EXPECT_EQ(c.status, Status::ok) << scheme;
    EXPECT_EQ(c.token, "t0k") << scheme;
  }
  EXPECT_EQ(of({{"AUTHORIZATION", "Bearer x"}}).status, Status::ok);
}

TEST(BearerCredentials, SpacesAroundTheTokenAreTrimmed) {
  const auto c = of({{"Authorization", "Bearer    tok \t "}});
  EXPECT_EQ(c.status, Status::ok);
  EXPECT_EQ(c.token, "tok");
}

TEST(BearerCredentials, OtherSchemesAndMissingTokensAreMalformed) {
  for (const char* value : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer   ", "Bearertok", "Bearer\ttok",
                            "Bearer two tokens", "Bearer a\tb", "", "Token abc"}) {
    const auto c = of({{"Authorization", value}});
    EXPECT_EQ(c.status, Status::malformed) << '"' << value << '"';
    EXPECT_EQ(c.token, "") << value;
  }
}

TEST(BearerCredentials, TwoHeadersAreRefusedEvenWhenBothAreValid) {
  const auto c = of({{"Authorization", "Bearer a"}, {"authorization", "Bearer a"}});
  EXPECT_EQ(c.status, Status::repeated);
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(of({{"Authorization", "Basic x"}, {"Authorization", "Bearer a"}}).status, Status::repeated);
}

TEST(BearerCredentials, SimilarHeaderNamesDoNotCount) {
  EXPECT_EQ(of({{"Proxy-Authorization", "Bearer a"}, {"Authorization-X", "Bearer b"}}).status, Status::absent);
}

}  // namespace
}  // namespace fls
