// The signed documents of protocol.md §2-3, byte for byte: the KMS verifies signatures over the
// exact text the original Node.js sidecar produced, so every expected string below is written
// out by hand as JSON.stringify prints it, never computed with the code under test.
#include "fls/signing/documents.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fls/signing/json_text.h"
#include "fls/signing/utf8.h"

namespace fls {
namespace {

constexpr char kKeyId[] = "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b";
constexpr EpochMillis kCreated = 1500041775123;  // 2017-07-14T14:16:15.123Z

// The UTF-8 bytes of U+FFFD REPLACEMENT CHARACTER.
constexpr char kFffd[] = "\xEF\xBF\xBD";

std::string signable_row(std::string_view payload, std::int64_t sequence = 1) {
  std::string out;
  append_signable_row(out, RowFields{kKeyId, sequence, payload, kCreated});
  return out;
}

std::string json_string(std::string_view utf8) {
  std::string out;
  append_json_string(out, utf8);
  return out;
}

std::string utf8_decoded(std::string_view bytes) {
  std::string out;
  append_utf8_decoded(out, bytes);
  return out;
}

std::string repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// ---- append_signable_row ----

TEST(SignableRow, PlainMessageKeysInProtocolOrder) {
  EXPECT_EQ(signable_row("hello world"),
            R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":"hello world",)"
            R"("timestamp":"2017-07-14T14:16:15.123Z"})");
}

TEST(SignableRow, SequenceIsAPlainJsonNumber) {
  EXPECT_EQ(signable_row("m", 1234567),
            R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1234567,"message":"m",)"
            R"("timestamp":"2017-07-14T14:16:15.123Z"})");
}

TEST(SignableRow, AppendsAfterExistingText) {
  std::string out = "[";
  append_signable_row(out, RowFields{"k", 2, "", 0});
  EXPECT_EQ(out, R"([{"keyId":"k","sequence":2,"message":"","timestamp":"1970-01-01T00:00:00.000Z"})");
}

TEST(SignableRow, EscapesExactlyAsJsonStringify) {
  // quote, backslash, \b \t \n \f \r, 0x01, 0x1f, '/', DEL, é, €, 😀, NUL
  const std::string payload = std::string("q\"b\\\b\t\n\f\r\x01\x1f/\x7f") +
                              "\xC3\xA9" "\xE2\x82\xAC" "\xF0\x9F\x98\x80" + std::string(1, '\0');
  const std::string expected =
      std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":")") +
      R"(q\"b\\\b\t\n\f\r\u0001\u001f/)" + "\x7f" + "\xC3\xA9" "\xE2\x82\xAC" "\xF0\x9F\x98\x80" +
      R"(\u0000","timestamp":"2017-07-14T14:16:15.123Z"})";
  EXPECT_EQ(signable_row(payload), expected);
}

TEST(SignableRow, OtherControlCharactersUseLowerCaseHex) {
  const std::string payload("\x0b\x0e\x1a\x1b\x1c", 5);
  EXPECT_EQ(signable_row(payload),
            R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,)"
            R"("message":"\u000b\u000e\u001a\u001b\u001c","timestamp":"2017-07-14T14:16:15.123Z"})");
}

// Node decoded the payload with Buffer.toString('utf8') before signing it, so invalid bytes
// are signed as U+FFFD.
TEST(SignableRow, InvalidUtf8IsSignedWithReplacementCharacters) {
  EXPECT_EQ(signable_row("a\x80" "b\xE2\x82"),
            std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":"a)") +
                kFffd + "b" + kFffd + R"(","timestamp":"2017-07-14T14:16:15.123Z"})");
}

TEST(SignableRow, InvalidUtf8AndControlCharactersTogether) {
  EXPECT_EQ(signable_row(std::string("\xFF\n\0", 3)),
            std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":")") +
                kFffd + R"(\n\u0000","timestamp":"2017-07-14T14:16:15.123Z"})");
}

// ---- make_batch_data ----

TEST(BatchData, NoRowsIsAnEmptyArray) { EXPECT_EQ(make_batch_data({}), "[]"); }

TEST(BatchData, OneRow) {
  const std::vector<SignedRow> rows{
      {R"({"keyId":"k","sequence":1,"message":"a","timestamp":"2017-07-14T14:16:15.123Z"})",
       "0123456789abcdef0123456789abcdef"}};
  EXPECT_EQ(make_batch_data(rows),
            R"([{"row":{"keyId":"k","sequence":1,"message":"a","timestamp":"2017-07-14T14:16:15.123Z"},)"
            R"("signature":"0123456789abcdef0123456789abcdef"}])");
}

TEST(BatchData, TwoRowsInTheGivenOrderSeparatedByACommaOnly) {
  const std::vector<SignedRow> rows{
      {R"({"keyId":"k","sequence":1,"message":"a","timestamp":"2017-07-14T14:16:15.123Z"})",
       "00000000000000000000000000000001"},
      {R"({"keyId":"k","sequence":2,"message":"b\n","timestamp":"2017-07-14T14:16:15.124Z"})",
       "ffffffffffffffffffffffffffffffff"}};
  EXPECT_EQ(make_batch_data(rows),
            R"([{"row":{"keyId":"k","sequence":1,"message":"a","timestamp":"2017-07-14T14:16:15.123Z"},)"
            R"("signature":"00000000000000000000000000000001"},)"
            R"({"row":{"keyId":"k","sequence":2,"message":"b\n","timestamp":"2017-07-14T14:16:15.124Z"},)"
            R"("signature":"ffffffffffffffffffffffffffffffff"}])");
}

// The batch text must be parseable JSON whose rows re-serialise to the very bytes signed.
TEST(BatchData, ParsesBackToTheSignedRows) {
  const std::vector<SignedRow> rows{{signable_row("x\"y\x01", 1), "0123456789abcdef0123456789abcdef"},
                                    {signable_row("\xE2\x82\xAC/", 2), "fedcba9876543210fedcba9876543210"}};
  const auto parsed = nlohmann::ordered_json::parse(make_batch_data(rows));
  ASSERT_EQ(parsed.size(), 2u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(parsed[i]["row"].dump(), rows[i].row_json);
    EXPECT_EQ(parsed[i]["signature"], rows[i].signature_hex);
  }
}

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
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",           // é € 😀
      "caf\xC3\xA9 \"quoted\" \\ back/slash\t\x7f",      // mixed escapes and raw bytes
      "\xE2\x80\xA8\xE2\x80\xA9",                        // U+2028, U+2029: raw in JSON.stringify
      "\xF4\x8F\xBF\xBF\xEF\xBF\xBF\xED\x9F\xBF",        // U+10FFFF, U+FFFF, U+D7FF
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

// ---- append_utf8_decoded / is_valid_utf8 (WHATWG maximal subparts, as Node's Buffer) ----

// is_valid_utf8 skips ASCII eight bytes at a time: a sequence at any position, valid or not,
// must still be judged.
TEST(Utf8Valid, SequencesAtEveryPositionOfALongText) {
  const std::vector<std::pair<std::string, bool>> sequences{
      {"\xC3\xA9", true}, {"\xF0\x9F\x98\x80", true}, {"\x80", false}, {"\xC3", false},
      {"\xED\xA0\x80", false}, {"\xFF", false}};
  for (const auto& [sequence, valid] : sequences) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string text(19, 'a');
      text.insert(at, sequence);
      EXPECT_EQ(is_valid_utf8(text), valid) << testing::PrintToString(text);
    }
  }
}

TEST(Utf8Decode, ValidTextIsUnchanged) {
  for (const std::string& text : {std::string(""), std::string("plain ascii"),
                                 std::string("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
                                 std::string("nul\0kept", 8),
                                 std::string("\xF4\x8F\xBF\xBF\xEE\x80\x80\xED\x9F\xBF")}) {
    EXPECT_TRUE(is_valid_utf8(text)) << testing::PrintToString(text);
    EXPECT_EQ(utf8_decoded(text), text);
  }
}

TEST(Utf8Decode, AppendsAfterExistingText) {
  std::string out = "prefix:";
  append_utf8_decoded(out, "a\x80");
  EXPECT_EQ(out, std::string("prefix:a") + kFffd);
}

TEST(Utf8Decode, LoneContinuationByte) {
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_EQ(utf8_decoded("\x80"), kFffd);
}

TEST(Utf8Decode, TruncatedThreeByteSequenceAtEndIsOneReplacement) {
  EXPECT_FALSE(is_valid_utf8("a\xE2\x82"));
  EXPECT_EQ(utf8_decoded("a\xE2\x82"), std::string("a") + kFffd);
}

TEST(Utf8Decode, TruncatedFourByteSequenceAtEndIsOneReplacement) {
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));
  EXPECT_EQ(utf8_decoded("\xF0\x9F\x98"), kFffd);
}

TEST(Utf8Decode, OverlongTwoByteEncodingIsTwoReplacements) {
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));
  EXPECT_EQ(utf8_decoded("\xC0\x80"), repeat(kFffd, 2));
}

TEST(Utf8Decode, OverlongThreeByteEncodingIsThreeReplacements) {
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\x80"));
  EXPECT_EQ(utf8_decoded("\xE0\x80\x80"), repeat(kFffd, 3));
}

TEST(Utf8Decode, SurrogateIsThreeReplacements) {
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
  EXPECT_EQ(utf8_decoded("\xED\xA0\x80"), repeat(kFffd, 3));
}

TEST(Utf8Decode, AboveU10FFFFIsFourReplacements) {
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));
  EXPECT_EQ(utf8_decoded("\xF4\x90\x80\x80"), repeat(kFffd, 4));
}

TEST(Utf8Decode, InterruptedSequenceKeepsTheInterruptingByte) {
  EXPECT_FALSE(is_valid_utf8("\xE2\x82" "A"));
  EXPECT_EQ(utf8_decoded("\xE2\x82" "A"), std::string(kFffd) + "A");
}

TEST(Utf8Decode, BytesThatNeverStartASequence) {
  for (const char* bad : {"\xFF", "\xFE", "\xC1", "\xF5"}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(std::string(bad));
    EXPECT_EQ(utf8_decoded(bad), kFffd) << testing::PrintToString(std::string(bad));
  }
}

// F5..FF would start sequences beyond U+10FFFF; their continuation bytes are then lone.
TEST(Utf8Decode, LeadBytesAboveF4AreInvalidOnTheirOwn) {
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_EQ(utf8_decoded("\xF5\x80\x80\x80"), repeat(kFffd, 4));
  EXPECT_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
  EXPECT_EQ(utf8_decoded("\xF8\x88\x80\x80\x80"), repeat(kFffd, 5));
}

TEST(Utf8Decode, ValidBytesAroundInvalidOnesAreKept) {
  EXPECT_EQ(utf8_decoded("\xC3\xA9\x80\xE2\x82\xAC\xFF\xF0\x9F\x98\x80"),
            std::string("\xC3\xA9") + kFffd + "\xE2\x82\xAC" + kFffd + "\xF0\x9F\x98\x80");
}

TEST(Utf8Decode, ResultIsAlwaysValidUtf8) {
  for (int byte = 0; byte < 0x100; ++byte) {
    const std::string text = std::string("a") + static_cast<char>(byte) + "\xE2";
    EXPECT_TRUE(is_valid_utf8(utf8_decoded(text))) << "byte 0x" << std::hex << byte;
  }
}

}  // namespace
}  // namespace fls
