// SIDE_KMS__URL's grammar: ws:// or wss://, host (IPv6 in brackets), optional port, target.
#include "fls/config/kms_url.h"

#include <gtest/gtest.h>

namespace fls {
namespace {

TEST(KmsUrl, WssDefaultsToTlsOnPort443) {
  const auto url = parse_kms_url("wss://kms.example.org/sidecar");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "kms.example.org");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/sidecar");
}

TEST(KmsUrl, WsDefaultsToPort80) {
  const auto url = parse_kms_url("ws://kms");
  ASSERT_TRUE(url);
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "kms");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");  // at least "/"
}

TEST(KmsUrl, HostPortAndTargetWithQuery) {
  const auto url = parse_kms_url("ws://host:9000/path?x=1");
  ASSERT_TRUE(url);
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->target, "/path?x=1");
}

TEST(KmsUrl, QueryWithoutPathGetsALeadingSlash) {
  const auto url = parse_kms_url("ws://host:9000?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "host");
  EXPECT_EQ(url->target, "/?x=1");
}

TEST(KmsUrl, BracketedIpv6Host) {
  const auto url = parse_kms_url("ws://[::1]:8080/sidecar");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/sidecar");
  const auto no_port = parse_kms_url("wss://[2001:db8::7]/sidecar");
  ASSERT_TRUE(no_port);
  EXPECT_EQ(no_port->host, "2001:db8::7");
  EXPECT_EQ(no_port->port, 443);
}

TEST(KmsUrl, RejectsOtherSchemesAndMalformedAuthorities) {
  for (const char* bad : {"http://x", "https://kms/sidecar", "kms:8080/sidecar", "ws:/kms", "ws://", "ws:///sidecar",
                          "ws://:8080/sidecar", "ws://kms:0/", "ws://kms:65536/", "ws://kms:port/", "ws://user@kms/",
                          "ws://[::1/", "ws://[]:80/", "ws://[::1]x/", ""}) {
    EXPECT_FALSE(parse_kms_url(bad)) << bad;
  }
}

TEST(KmsUrl, EmptyBracketsAndPortOnlyAuthorityAreRejectedButAUserInTheTargetIsNot) {
  EXPECT_FALSE(parse_kms_url("wss://[]/"));
  EXPECT_FALSE(parse_kms_url("wss://:443"));
  // An '@' after the authority is part of the target, not a user name.
  const auto url = parse_kms_url("ws://kms/a@b");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "kms");
  EXPECT_EQ(url->target, "/a@b");
}

TEST(KmsUrl, PortBoundsAreInclusive) {
  const auto low = parse_kms_url("ws://kms:1/");
  ASSERT_TRUE(low);
  EXPECT_EQ(low->port, 1);
  const auto high = parse_kms_url("wss://kms:65535");
  ASSERT_TRUE(high);
  EXPECT_EQ(high->port, 65535);
  EXPECT_EQ(high->target, "/");
  EXPECT_FALSE(parse_kms_url("ws://kms:-1/"));
  EXPECT_FALSE(parse_kms_url("ws://kms:80x/"));
}

}  // namespace
}  // namespace fls
