// The npm package central-ledger used with the original sidecar, unchanged, against this one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "sidecar_fixture.h"

namespace fls::test {
namespace {

class NodeClientTest : public SidecarFixture {};

TEST_F(NodeClientTest, TheMojaloopForensicLoggingClientWritesMessagesThatAreStoredAndVerified) {
  const std::filesystem::path example = std::filesystem::path(FLS_SOURCE_DIR) / "examples" / "node";
  ASSERT_TRUE(std::filesystem::exists(example / "node_modules" / "@mojaloop" / "forensic-logging-client"))
      << "run `npm install` in " << example << " (scripts/test.sh does)";
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "10"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));

  const auto [status, output] =
      run_to_end("/usr/bin/env", {{"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"}},
                 {"node", (example / "send.js").string(), "--port", std::to_string(intake_port_), "--count", "50"},
                 std::chrono::seconds(60));
  ASSERT_EQ(status, 0) << output;
  ASSERT_TRUE(wait_for_acknowledged_events(50)) << sidecar->output();
  EXPECT_EQ(verify_everything_stored(), 50u);
  EXPECT_EQ(db_.count("SELECT count(*) FROM events WHERE convert_from(message, 'UTF8')::jsonb -> 'metadata' -> "
                      "'event' ->> 'type' = 'audit'"),
            50);
}

}  // namespace
}  // namespace fls::test
