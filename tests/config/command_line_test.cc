// The shared command line: migrate | --help | --version, then configuration (config/command_line.h).
#include "fls/config/command_line.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "fls/common/version.h"

namespace fls {
namespace {

constexpr char kUsage[] = "usage: prog [migrate | --help | --version]\n";

struct Outcome {
  StartUp start_up;
  std::string out;
  std::string err;
  bool loaded = false;
};

// Runs start_up on `args` (without the program name) with a config loader that throws
// `config_error` when it is non-empty.
Outcome run(std::vector<std::string> args, const std::string& config_error = {}) {
  std::vector<char*> argv;
  std::string program = "prog";
  argv.push_back(program.data());
  for (auto& arg : args) argv.push_back(arg.data());
  Outcome outcome;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  outcome.start_up = start_up(static_cast<int>(argv.size()), argv.data(), "prog", kUsage, [&](const EnvReader&) {
    outcome.loaded = true;
    if (!config_error.empty()) throw ConfigError(config_error);
  });
  outcome.out = testing::internal::GetCapturedStdout();
  outcome.err = testing::internal::GetCapturedStderr();
  return outcome;
}

TEST(StartUp, NoArgumentsLoadsTheConfigAndRuns) {
  const Outcome o = run({});
  EXPECT_TRUE(o.loaded);
  EXPECT_FALSE(o.start_up.migrate_only);
  EXPECT_EQ(o.start_up.exit_code, std::nullopt);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "");
}

TEST(StartUp, MigrateLoadsTheConfigAndMigratesOnly) {
  const Outcome o = run({"migrate"});
  EXPECT_TRUE(o.loaded);
  EXPECT_TRUE(o.start_up.migrate_only);
  EXPECT_EQ(o.start_up.exit_code, std::nullopt);
}

TEST(StartUp, HelpPrintsTheUsageAndExitsZeroWithoutConfig) {
  for (const char* flag : {"--help", "-h"}) {
    const Outcome o = run({flag});
    EXPECT_FALSE(o.loaded) << flag;
    EXPECT_EQ(o.start_up.exit_code, std::optional<int>(0)) << flag;
    EXPECT_EQ(o.out, kUsage) << flag;
  }
}

TEST(StartUp, VersionPrintsProgramAndVersion) {
  const Outcome o = run({"--version"});
  EXPECT_FALSE(o.loaded);
  EXPECT_EQ(o.start_up.exit_code, std::optional<int>(0));
  EXPECT_EQ(o.out, std::string("prog ") + kVersion + "\n");
}

TEST(StartUp, UnknownArgumentExitsTwoWithTheUsageOnStderr) {
  const Outcome o = run({"--frobnicate"});
  EXPECT_FALSE(o.loaded);
  EXPECT_EQ(o.start_up.exit_code, std::optional<int>(2));
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, std::string("unknown argument '--frobnicate'\n") + kUsage);
}

TEST(StartUp, ConfigErrorIsOneLineOnStderrAndExitsTwo) {
  const Outcome o = run({}, "SIDE_PORT must be a whole number");
  EXPECT_TRUE(o.loaded);
  EXPECT_EQ(o.start_up.exit_code, std::optional<int>(2));
  EXPECT_EQ(o.err, "configuration error: SIDE_PORT must be a whole number\n");
}

TEST(StartUp, TheLoaderReadsTheProcessEnvironment) {
  ::setenv("FLS_COMMAND_LINE_TEST", "seen", 1);
  std::string seen;
  std::string program = "prog";
  char* argv[] = {program.data()};
  start_up(1, argv, "prog", kUsage, [&](const EnvReader& env) { seen = env.text("FLS_COMMAND_LINE_TEST", "unset"); });
  ::unsetenv("FLS_COMMAND_LINE_TEST");
  EXPECT_EQ(seen, "seen");
}

}  // namespace
}  // namespace fls
