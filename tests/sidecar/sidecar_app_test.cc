// The sidecar application in the test's own process: it binds the ports the kernel picks, says
// which, and serves them (health and readiness over HTTP, frames over the intake port) against a
// real PostgreSQL and a KMS peer on loopback.
#include "fls/sidecar/sidecar_app.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "admin_client.h"
#include "fls/config/env.h"
#include "fls/pg/migration.h"
#include "fls/pg/migrator.h"
#include "sidecar_fixture.h"

namespace fls {
namespace {

using namespace std::chrono_literals;

class SidecarAppTest : public test::SidecarFixture {
 protected:
  SidecarConfig config_on_free_ports() const {
    const auto env = sidecar_env();
    SidecarConfig config = load_sidecar_config(EnvReader([&](const std::string& name) -> std::optional<std::string> {
      const auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    }));
    config.port = 0;
    config.health_port = 0;
    config.batch_size = 2;
    return config;
  }
};

TEST_F(SidecarAppTest, ServesTheIntakeAndHttpPortsTheKernelPicked) {
  migrate_with_retry(db_.uri(), "sidecar_schema_migrations", migrations::sidecar());
  SidecarApp app(config_on_free_ports());
  app.start();
  const std::uint16_t http = app.http_port();
  const std::uint16_t intake = app.intake_port();
  ASSERT_NE(http, 0);
  ASSERT_NE(intake, 0);
  EXPECT_NE(http, intake);

  const auto health = test::http_request(http, "GET", "/health");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, R"({"status":"OK"})");

  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  // Readiness follows the registration, which the app learns a moment after the peer.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  test::HttpResult ready;
  for (;;) {
    ready = test::http_request(http, "GET", "/ready");
    if (ready.status == 200 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(50ms);  // the endpoint offers no wait; poll it, bounded
  }
  EXPECT_EQ(ready.status, 200u) << ready.body;
  EXPECT_EQ(ready.body, R"({"status":"ready"})");

  ASSERT_TRUE(test::send_frames(intake, {"first frame", "second frame"}));
  EXPECT_TRUE(wait_for_acknowledged_events(2)) << "the frames sent to the reported port were not stored";
  const auto metrics = test::http_request(http, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("fls_sidecar_events_stored_total 2"), std::string::npos) << metrics.body;

  EXPECT_TRUE(app.stop(10s));
  EXPECT_EQ(verify_everything_stored(), 2u);
}

}  // namespace
}  // namespace fls
