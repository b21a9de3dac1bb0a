// EnvReader: typed settings whose every error names the variable (config/env.h).
#include "fls/config/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "map_env.h"

namespace fls {
namespace {

using test::map_env;

// The ConfigError message `read` throws, or a failure when it throws none.
template <class Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return {};
}

TEST(EnvReader, TextFallsBackWhenUnsetOrEmpty) {
  const EnvReader env = map_env({{"SET", "value"}, {"EMPTY", ""}});
  EXPECT_EQ(env.text("SET", "fallback"), "value");
  EXPECT_EQ(env.text("UNSET", "fallback"), "fallback");
  EXPECT_EQ(env.text("EMPTY", "fallback"), "fallback");
  EXPECT_EQ(env.optional_text("SET"), std::optional<std::string>("value"));
  EXPECT_EQ(env.optional_text("EMPTY"), std::nullopt);
  EXPECT_EQ(env.optional_text("UNSET"), std::nullopt);
}

TEST(EnvReader, RequiredTextNamesTheMissingVariable) {
  const EnvReader env = map_env({{"EMPTY", ""}, {"SET", "x"}});
  EXPECT_EQ(env.required_text("SET"), "x");
  EXPECT_EQ(error_of([&] { env.required_text("EMPTY"); }), "EMPTY is required but not set");
  EXPECT_EQ(error_of([&] { env.required_text("NOPE"); }).rfind("NOPE ", 0), 0u);
}

TEST(EnvReader, IntegerBoundsAreInclusive) {
  const EnvReader env = map_env({{"LOW", "-5"}, {"HIGH", "10"}, {"PLUS", "+7"}});
  EXPECT_EQ(env.integer("LOW", 0, -5, 10), -5);
  EXPECT_EQ(env.integer("HIGH", 0, -5, 10), 10);
  EXPECT_EQ(env.integer("PLUS", 0, 0, 10), 7);
  EXPECT_EQ(env.integer("UNSET", 3, -5, 10), 3);
  EXPECT_EQ(error_of([&] { env.integer("HIGH", 0, 0, 9); }), "HIGH must be a whole number from 0 to 9, got '10'");
  EXPECT_EQ(error_of([&] { env.integer("LOW", 0, -4, 9); }).rfind("LOW must be", 0), 0u);
}

TEST(EnvReader, IntegerRejectsWhatIsNotOneWholeNumber) {
  for (const char* bad : {"1.5", "12abc", "1 ", "0x10", "abc", "99999999999999999999", "-"}) {
    const EnvReader env = map_env({{"N", bad}});
    EXPECT_THROW(env.integer("N", 0, -1'000'000, 1'000'000), ConfigError) << bad;
  }
}

TEST(EnvReader, PortFrom1To65535) {
  EXPECT_EQ(map_env({{"P", "1"}}).port("P", 9), 1);
  EXPECT_EQ(map_env({{"P", "65535"}}).port("P", 9), 65535);
  EXPECT_EQ(map_env({}).port("P", 9), 9);
  EXPECT_THROW(map_env({{"P", "0"}}).port("P", 9), ConfigError);
  EXPECT_THROW(map_env({{"P", "65536"}}).port("P", 9), ConfigError);
}

TEST(EnvReader, MillisAtLeastOneAndAtMostAYear) {
  EXPECT_EQ(map_env({{"T", "1"}}).millis("T", 5), std::chrono::milliseconds(1));
  EXPECT_EQ(map_env({}).millis("T", 5), std::chrono::milliseconds(5));
  EXPECT_EQ(map_env({{"T", "31536000000"}}).millis("T", 5), std::chrono::milliseconds(31'536'000'000));
  EXPECT_THROW(map_env({{"T", "0"}}).millis("T", 5), ConfigError);
  EXPECT_THROW(map_env({{"T", "31536000001"}}).millis("T", 5), ConfigError);
}

TEST(EnvReader, BooleanAcceptsTrueFalseOneZeroOnly) {
  EXPECT_TRUE(map_env({{"B", "true"}}).boolean("B", false));
  EXPECT_TRUE(map_env({{"B", "1"}}).boolean("B", false));
  EXPECT_FALSE(map_env({{"B", "false"}}).boolean("B", true));
  EXPECT_FALSE(map_env({{"B", "0"}}).boolean("B", true));
  EXPECT_TRUE(map_env({}).boolean("B", true));
  EXPECT_FALSE(map_env({{"B", ""}}).boolean("B", false));
  for (const char* bad : {"TRUE", "yes", "on", "2"}) {
    EXPECT_EQ(error_of([&] {
                map_env({{"B", bad}}).boolean("B", false);
              }),
              std::string("B must be true or false, got '") + bad + "'");
  }
}

TEST(EnvReader, LogSettingsDefaultAndCheck) {
  std::string level, format;
  map_env({}).log_settings("X", level, format);
  EXPECT_EQ(level, "info");
  EXPECT_EQ(format, "text");
  map_env({{"X_LOG_LEVEL", "debug"}, {"X_LOG_FORMAT", "json"}}).log_settings("X", level, format);
  EXPECT_EQ(level, "debug");
  EXPECT_EQ(format, "json");
  EXPECT_EQ(error_of([&] {
              map_env({{"X_LOG_LEVEL", "loud"}}).log_settings("X", level, format);
            }).rfind("X_LOG_LEVEL must be one of", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              map_env({{"X_LOG_FORMAT", "xml"}}).log_settings("X", level, format);
            }),
            "X_LOG_FORMAT must be text or json, got 'xml'");
}

TEST(EnvReader, ProcessEnvironmentReadsTheRealEnvironment) {
  ::setenv("FLS_ENV_TEST_SET", "from the process", 1);
  ::unsetenv("FLS_ENV_TEST_UNSET");
  const EnvLookup lookup = process_environment();
  EXPECT_EQ(lookup("FLS_ENV_TEST_SET"), std::optional<std::string>("from the process"));
  EXPECT_EQ(lookup("FLS_ENV_TEST_UNSET"), std::nullopt);
  ::unsetenv("FLS_ENV_TEST_SET");
}

}  // namespace
}  // namespace fls
