// Bounded parsing of JSON from outside the process (fls/common/json_input.h).
#include "fls/common/json_input.h"

#include <gtest/gtest.h>

#include <string>

namespace fls {
namespace {

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonNestingDepth, CountsArraysAndObjectsButNotBracketsInStrings) {
  EXPECT_EQ(json_nesting_depth("1", 64), 0u);
  EXPECT_EQ(json_nesting_depth("[]", 64), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a":[{"b":[]}],"c":{}})", 64), 4u);
  EXPECT_EQ(json_nesting_depth(R"(["[[[[", "{{{{"])", 64), 1u);
  EXPECT_EQ(json_nesting_depth(R"(["\"[[[[\\", [2]])", 64), 2u);  // escaped quote, then an escaped backslash
}

TEST(JsonNestingDepth, StopsCountingPastTheLimit) {
  EXPECT_EQ(json_nesting_depth(nested_arrays(64), 64), 64u);
  EXPECT_EQ(json_nesting_depth(nested_arrays(65), 64), 65u);
  EXPECT_EQ(json_nesting_depth(nested_arrays(80'000), 64), 65u);
  EXPECT_EQ(json_nesting_depth(std::string(80'000, '{'), 64), 65u);  // unclosed: still bounded
}

TEST(ParseExternalJson, RefusesValuesNestedDeeperThanTheLimit) {
  nlohmann::json value;
  EXPECT_EQ(parse_external_json(nested_arrays(64), value), JsonInput::ok);
  EXPECT_TRUE(value.is_array());
  EXPECT_EQ(parse_external_json(R"({"jsonrpc":"2.0","id":)" + nested_arrays(80'000) + "}", value), JsonInput::too_deep);
  EXPECT_TRUE(value.is_discarded());
  EXPECT_EQ(parse_external_json(R"({"id":1,"params":)" + nested_arrays(65) + "}", value), JsonInput::too_deep);
}

TEST(ParseExternalJson, ReportsMalformedTextAndNeverThrows) {
  nlohmann::ordered_json value;
  EXPECT_EQ(parse_external_json("{not json", value), JsonInput::malformed);
  EXPECT_TRUE(value.is_discarded());
  EXPECT_EQ(parse_external_json("", value), JsonInput::malformed);
  EXPECT_EQ(parse_external_json("]]]]", value), JsonInput::malformed);
  EXPECT_EQ(parse_external_json(R"({"a":"\)", value), JsonInput::malformed);  // ends inside an escape
  EXPECT_EQ(parse_external_json(R"({"b":2,"a":1})", value), JsonInput::ok);
  EXPECT_EQ(value.dump(), R"({"b":2,"a":1})");  // ordered_json keeps the order
}

}  // namespace
}  // namespace fls
