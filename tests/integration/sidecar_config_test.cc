// Start-up of the real executable: --help, --version, configuration errors, migrations.
#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "sidecar_fixture.h"

namespace fls::test {
namespace {

TEST(SidecarCommandLine, HelpAndVersionExitZero) {
  const auto [help_status, help] = run_to_end(kSidecarBinary, {}, {"--help"});
  EXPECT_EQ(help_status, 0);
  EXPECT_NE(help.find("SIDE_DATABASE_URI"), std::string::npos);
  const auto [version_status, version] = run_to_end(kSidecarBinary, {}, {"--version"});
  EXPECT_EQ(version_status, 0);
  EXPECT_EQ(version.rfind("forensic-logging-sidecar ", 0), 0u) << version;
}

TEST(SidecarCommandLine, MissingDatabaseUriExitsNamingTheVariable) {
  const auto [status, output] = run_to_end(kSidecarBinary, {}, {});
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("SIDE_DATABASE_URI"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

TEST(SidecarCommandLine, MalformedValuesExitNamingTheVariable) {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"SIDE_PORT", "http"},
                                                        {"SIDE_HEALTH_PORT", "99999"},
                                                        {"SIDE_KMS__URL", "http://kms:8080/sidecar"},
                                                        {"SIDE_BATCH_SIZE", "-1"},
                                                        {"SIDE_KMS__PING_INTERVAL", "soon"}}) {
    const auto [status, output] =
        run_to_end(kSidecarBinary, {{"SIDE_DATABASE_URI", "postgres://x@127.0.0.1:1/x"}, {name, value}}, {});
    EXPECT_NE(status, 0) << name;
    EXPECT_NE(output.find(name), std::string::npos) << output;
  }
}

TEST(SidecarLogs, JsonFormatWritesOneParsableObjectPerLine) {
  ChildProcess sidecar(kSidecarBinary,
                       {{"SIDE_DATABASE_URI", "postgres://nobody@127.0.0.1:1/none"}, {"SIDE_LOG_FORMAT", "json"}});
  ASSERT_TRUE(sidecar.wait_for_output("retrying in 200 ms")) << sidecar.output();
  sidecar.stop(SIGKILL);
  std::istringstream lines(sidecar.output());
  int parsed = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto object = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(object.is_object()) << line;
    EXPECT_TRUE(object["time"].is_string() && object["level"] == "error" && object["message"].is_string()) << line;
    ++parsed;
  }
  EXPECT_GE(parsed, 2);
}

class SidecarMigrationTest : public SidecarFixture {};

TEST_F(SidecarMigrationTest, MigrateAppliesEachMigrationOnceEvenWhenRunConcurrently) {
  const std::map<std::string, std::string> env{{"SIDE_DATABASE_URI", db_.uri()}};
  std::vector<std::pair<int, std::string>> results(3);
  std::vector<std::thread> runs;
  for (auto& result : results) runs.emplace_back([&] { result = run_to_end(kSidecarBinary, env, {"migrate"}); });
  for (auto& t : runs) t.join();
  for (const auto& [status, output] : results) EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(db_.count("SELECT count(*) FROM sidecar_schema_migrations"),
            db_.count("SELECT count(*) FROM sidecar_schema_migrations WHERE name LIKE '0%'"));
  EXPECT_EQ(db_.count("SELECT count(*) FROM sidecar_schema_migrations WHERE name = '0001_initial_schema'"), 1);
  EXPECT_EQ(
      db_.count("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('events','batches','sidecars')"),
      3);
}

}  // namespace
}  // namespace fls::test
