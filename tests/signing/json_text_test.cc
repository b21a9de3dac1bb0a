// JSON string literals exactly as JSON.stringify writes them (signing/json_text.h).
#include "fls/signing/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "repeat.h"

namespace fls {
namespace {

std::string json_string(std::string_view utf8) {
  std::string out;
  append_json_string(out, utf8);
  return out;
}

using test::repeat;

// ---- append_json_string, against nlohmann::json as an independent implementation ----

TEST(JsonString, EverySingleAsciiByteMatchesNlohmann) {
  for (int byte = 0; byte < 0x80; ++byte) {
    const std::string text(1, static_cast<char>(byte));
    EXPECT_EQ(json_string(text), nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/false))
        << "byte 0x" << std::hex << byte;
  }
}

TEST(JsonString, Utf8StringsMatchNlohmann) {
  std::string all_ascii;
  for (int byte = 0; byte < 0x80; ++byte) all_ascii.push_back(static_cast<char>(byte));
  const std::vector<std::string> texts{
      "",
      all_ascii,
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",        // é € 😀
      "caf\xC3\xA9 \"quoted\" \\ back/slash\t\x7f",  // mixed escapes and raw bytes
      "\xE2\x80\xA8\xE2\x80\xA9",                    // U+2028, U+2029: raw in JSON.stringify
      "\xF4\x8F\xBF\xBF\xEF\xBF\xBF\xED\x9F\xBF",    // U+10FFFF, U+FFFF, U+D7FF
      std::string("nul\0inside\0", 11),
      repeat("\x01\xC3\xA9\n", 100),
  };
  for (const auto& text : texts) {
    EXPECT_EQ(json_string(text), nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/false))
        << "for " << testing::PrintToString(text);
  }
}

// The scan goes eight bytes at a time: every byte value at every position of a longer text
// must still be found.
TEST(JsonString, EveryAsciiByteAtEveryPositionOfALongTextMatchesNlohmann) {
  for (int byte = 0; byte < 0x80; ++byte) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string text(19, 'a');
      text.insert(at, 1, static_cast<char>(byte));
      ASSERT_EQ(json_string(text), nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/false))
          << "byte 0x" << std::hex << byte << " at " << std::dec << at;
    }
  }
}

TEST(JsonString, HandWrittenExpectations) {
  EXPECT_EQ(json_string(""), R"("")");
  EXPECT_EQ(json_string("/"), R"("/")");
  EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");
  EXPECT_EQ(json_string("\x1f"), R"("\u001f")");
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
}

TEST(JsonString, AppendsAfterExistingText) {
  std::string out = "[";
  append_json_string(out, "a\nb");
  EXPECT_EQ(out, R"(["a\nb")");
}

TEST(JsonString, EveryControlCharacterEscapeByHand) {
  EXPECT_EQ(json_string("\b\t\n\f\r"), R"("\b\t\n\f\r")");
  EXPECT_EQ(json_string(std::string("\0", 1)), R"("\u0000")");
  EXPECT_EQ(json_string("\x0b\x1a"), R"("\u000b\u001a")");
}

}  // namespace
}  // namespace fls
