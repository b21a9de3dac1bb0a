// Configuration from the environment (protocol.md §6): names, defaults and errors.
#include "fls/config/sidecar_config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fls/config/env.h"
#include "fls/config/kms_url.h"
#include "map_env.h"

namespace fls {
namespace {

using test::Env;
using test::map_env;

// Only the one required variable set, plus `extra`.
SidecarConfig load(Env extra = {}) {
  extra.emplace("SIDE_DATABASE_URI", "postgres://sidecar@db/sidecar");
  return load_sidecar_config(map_env(std::move(extra)));
}

// The ConfigError message of loading `extra`, or a failure when nothing is thrown.
std::string error_of(Env extra) {
  try {
    load(std::move(extra));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return {};
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// ---- defaults (protocol.md §6) ----

TEST(SidecarConfigDefaults, MatchTheOriginalSidecar) {
  const SidecarConfig c = load();
  EXPECT_EQ(c.database_uri, "postgres://sidecar@db/sidecar");
  EXPECT_EQ(c.service_name, "TestService");
  EXPECT_EQ(c.port, 5678);
  EXPECT_EQ(c.health_port, 6789);
  EXPECT_EQ(c.batch_size, 64u);
  EXPECT_EQ(c.batch_interval, std::chrono::milliseconds(300000));
  EXPECT_EQ(c.kms_url_text, "ws://localhost:8080/sidecar");
  EXPECT_EQ(c.kms_ping_interval, std::chrono::milliseconds(30000));
  EXPECT_EQ(c.kms_request_timeout, std::chrono::milliseconds(120000));
  EXPECT_EQ(c.kms_connect_timeout, std::chrono::milliseconds(60000));
  EXPECT_EQ(c.kms_reconnect_interval, std::chrono::milliseconds(5000));
}

TEST(SidecarConfigDefaults, DefaultKmsUrlIsParsed) {
  const SidecarConfig c = load();
  EXPECT_FALSE(c.kms_url.tls);
  EXPECT_EQ(c.kms_url.host, "localhost");
  EXPECT_EQ(c.kms_url.port, 8080);
  EXPECT_EQ(c.kms_url.target, "/sidecar");
}

// The product's own settings, with the defaults the README lists.
TEST(SidecarConfigDefaults, ProductSettingsMatchTheReadme) {
  const SidecarConfig c = load();
  EXPECT_EQ(c.bind_address, "0.0.0.0");
  EXPECT_EQ(c.max_message_size, 1048576u);
  EXPECT_EQ(c.max_queued_bytes, 8388608u);
  EXPECT_EQ(c.frame_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(c.max_connections, 1024u);
  EXPECT_EQ(c.store_max_rows, 4096u);
  EXPECT_EQ(c.store_connections, 2u);
  EXPECT_EQ(c.store_max_delay, std::chrono::milliseconds(0));
  EXPECT_EQ(c.shutdown_timeout, std::chrono::milliseconds(20000));
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.kms_ca_file);
}

TEST(SidecarConfig, AcceptsEveryLogLevelTheReadmeNames) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(load({{"SIDE_LOG_LEVEL", level}}).log_level, level);
  }
}

TEST(SidecarConfig, ReadsEveryProtocolVariable) {
  const SidecarConfig c = load({{"SIDE_SERVICE", "CentralLedger"},
                                {"SIDE_PORT", "15678"},
                                {"SIDE_HEALTH_PORT", "16789"},
                                {"SIDE_BATCH_SIZE", "10"},
                                {"SIDE_BATCH_TIME_INTERVAL", "1000"},
                                {"SIDE_KMS__URL", "wss://kms.example.org/sidecar"},
                                {"SIDE_KMS__PING_INTERVAL", "100"},
                                {"SIDE_KMS__REQUEST_TIMEOUT", "200"},
                                {"SIDE_KMS__CONNECT_TIMEOUT", "300"},
                                {"SIDE_KMS__RECONNECT_INTERVAL", "400"}});
  EXPECT_EQ(c.service_name, "CentralLedger");
  EXPECT_EQ(c.port, 15678);
  EXPECT_EQ(c.health_port, 16789);
  EXPECT_EQ(c.batch_size, 10u);
  EXPECT_EQ(c.batch_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.kms_url_text, "wss://kms.example.org/sidecar");
  EXPECT_TRUE(c.kms_url.tls);
  EXPECT_EQ(c.kms_ping_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(c.kms_request_timeout, std::chrono::milliseconds(200));
  EXPECT_EQ(c.kms_connect_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(c.kms_reconnect_interval, std::chrono::milliseconds(400));
}

TEST(SidecarConfig, EmptyValueCountsAsUnset) { EXPECT_EQ(load({{"SIDE_PORT", ""}}).port, 5678); }

// ---- errors name the variable ----

TEST(SidecarConfigErrors, MissingDatabaseUri) {
  try {
    load_sidecar_config(map_env({}));
    FAIL() << "no ConfigError was thrown";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(starts_with(e.what(), "SIDE_DATABASE_URI")) << e.what();
  }
}

TEST(SidecarConfigErrors, EmptyDatabaseUriIsMissing) {
  EXPECT_THROW(load_sidecar_config(map_env({{"SIDE_DATABASE_URI", ""}})), ConfigError);
}

TEST(SidecarConfigErrors, PortNotANumber) {
  const std::string message = error_of({{"SIDE_PORT", "abc"}});
  EXPECT_TRUE(starts_with(message, "SIDE_PORT")) << message;
  EXPECT_NE(message.find("abc"), std::string::npos) << message;  // says what it got
}

TEST(SidecarConfigErrors, PortAbove65535) {
  const std::string message = error_of({{"SIDE_PORT", "70000"}});
  EXPECT_TRUE(starts_with(message, "SIDE_PORT")) << message;
}

TEST(SidecarConfigErrors, PortZero) {
  const std::string message = error_of({{"SIDE_PORT", "0"}});
  EXPECT_TRUE(starts_with(message, "SIDE_PORT")) << message;
}

TEST(SidecarConfigErrors, PortWithTrailingText) {
  const std::string message = error_of({{"SIDE_PORT", "5678x"}});
  EXPECT_TRUE(starts_with(message, "SIDE_PORT")) << message;
}

TEST(SidecarConfigErrors, HealthPortIsNamedOnItsOwn) {
  const std::string message = error_of({{"SIDE_HEALTH_PORT", "65536"}});
  EXPECT_TRUE(starts_with(message, "SIDE_HEALTH_PORT")) << message;
}

TEST(SidecarConfigErrors, HttpKmsUrl) {
  const std::string message = error_of({{"SIDE_KMS__URL", "http://x"}});
  EXPECT_TRUE(starts_with(message, "SIDE_KMS__URL")) << message;
}

TEST(SidecarConfigErrors, UnknownLogLevel) {
  const std::string message = error_of({{"SIDE_LOG_LEVEL", "loud"}});
  EXPECT_TRUE(starts_with(message, "SIDE_LOG_LEVEL")) << message;
}

TEST(SidecarConfigErrors, BatchSizeZero) {
  const std::string message = error_of({{"SIDE_BATCH_SIZE", "0"}});
  EXPECT_TRUE(starts_with(message, "SIDE_BATCH_SIZE")) << message;
}

TEST(SidecarConfigErrors, NegativeBatchSize) {
  const std::string message = error_of({{"SIDE_BATCH_SIZE", "-1"}});
  EXPECT_TRUE(starts_with(message, "SIDE_BATCH_SIZE")) << message;
}

TEST(SidecarConfigErrors, StoreConnectionsOutsideOneToSixteen) {
  for (const char* value : {"0", "17", "two"}) {
    const std::string message = error_of({{"SIDE_STORE_CONNECTIONS", value}});
    EXPECT_TRUE(starts_with(message, "SIDE_STORE_CONNECTIONS")) << value << ": " << message;
  }
  EXPECT_EQ(load({{"SIDE_STORE_CONNECTIONS", "1"}}).store_connections, 1u);
}

TEST(SidecarConfigErrors, StoreMaxDelayFromZeroToAMinute) {
  for (const char* value : {"-1", "60001", "5ms"}) {
    const std::string message = error_of({{"SIDE_STORE_MAX_DELAY", value}});
    EXPECT_TRUE(starts_with(message, "SIDE_STORE_MAX_DELAY")) << value << ": " << message;
  }
  EXPECT_EQ(load({{"SIDE_STORE_MAX_DELAY", "0"}}).store_max_delay, std::chrono::milliseconds(0));
  EXPECT_EQ(load({{"SIDE_STORE_MAX_DELAY", "250"}}).store_max_delay, std::chrono::milliseconds(250));
}

TEST(SidecarConfigErrors, FrameTimeoutFromZeroToADay) {
  for (const char* value : {"-1", "86400001", "30s", "1.5"}) {
    const std::string message = error_of({{"SIDE_FRAME_TIMEOUT", value}});
    EXPECT_TRUE(starts_with(message, "SIDE_FRAME_TIMEOUT")) << value << ": " << message;
    EXPECT_NE(message.find(value), std::string::npos) << message;
  }
  EXPECT_EQ(load({{"SIDE_FRAME_TIMEOUT", "0"}}).frame_timeout, std::chrono::milliseconds(0));  // never
  EXPECT_EQ(load({{"SIDE_FRAME_TIMEOUT", "500"}}).frame_timeout, std::chrono::milliseconds(500));
}

TEST(SidecarConfigErrors, IntervalsMustBePositiveWholeMilliseconds) {
  for (const char* name : {"SIDE_BATCH_TIME_INTERVAL", "SIDE_KMS__PING_INTERVAL", "SIDE_KMS__REQUEST_TIMEOUT",
                           "SIDE_KMS__CONNECT_TIMEOUT", "SIDE_KMS__RECONNECT_INTERVAL"}) {
    for (const char* value : {"0", "-5", "soon", "1.5"}) {
      const std::string message = error_of({{name, value}});
      EXPECT_TRUE(starts_with(message, name)) << name << "=" << value << ": " << message;
    }
  }
}

TEST(SidecarConfigErrors, MessageIsOneLine) {
  for (const Env& env :
       {Env{{"SIDE_PORT", "abc"}}, Env{{"SIDE_KMS__URL", "http://x"}}, Env{{"SIDE_LOG_LEVEL", "loud"}}}) {
    EXPECT_EQ(error_of(env).find('\n'), std::string::npos);
  }
}

TEST(SidecarConfig, Ipv6KmsUrlIsAccepted) {
  const SidecarConfig c = load({{"SIDE_KMS__URL", "ws://[::1]:8080/sidecar"}});
  EXPECT_EQ(c.kms_url.host, "::1");
  EXPECT_EQ(c.kms_url.port, 8080);
}

// The KMS credential goes into an HTTP header: unset or empty is no credential, and a value
// that would split the header is refused without being echoed.
TEST(SidecarConfig, KmsTokenIsOptionalAndHeaderSafe) {
  EXPECT_EQ(load().kms_token, std::nullopt);
  EXPECT_EQ(load({{"SIDE_KMS__TOKEN", ""}}).kms_token, std::nullopt);
  EXPECT_EQ(load({{"SIDE_KMS__TOKEN", "fls_0123abcd"}}).kms_token, std::optional<std::string>("fls_0123abcd"));
  const std::string error = error_of({{"SIDE_KMS__TOKEN", "fls_secret\r\nX-Injected: 1"}});
  EXPECT_EQ(error.rfind("SIDE_KMS__TOKEN must be", 0), 0u) << error;
  EXPECT_EQ(error.find("fls_secret"), std::string::npos) << "the token is never printed";
}

}  // namespace
}  // namespace fls
