// The signed documents of protocol.md §2-3, byte for byte: the KMS verifies signatures over the
// exact text the original Node.js sidecar produced, so every expected string below is written
// out by hand as JSON.stringify prints it, never computed with the code under test.
#include "fls/signing/documents.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
                              "\xC3\xA9"
                              "\xE2\x82\xAC"
                              "\xF0\x9F\x98\x80" +
                              std::string(1, '\0');
  const std::string expected =
      std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":")") +
      R"(q\"b\\\b\t\n\f\r\u0001\u001f/)" + "\x7f" +
      "\xC3\xA9"
      "\xE2\x82\xAC"
      "\xF0\x9F\x98\x80" +
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
  EXPECT_EQ(signable_row("a\x80"
                         "b\xE2\x82"),
            std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":"a)") + kFffd + "b" +
                kFffd + R"(","timestamp":"2017-07-14T14:16:15.123Z"})");
}

TEST(SignableRow, InvalidUtf8AndControlCharactersTogether) {
  EXPECT_EQ(signable_row(std::string("\xFF\n\0", 3)),
            std::string(R"({"keyId":"9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b","sequence":1,"message":")") + kFffd +
                R"(\n\u0000","timestamp":"2017-07-14T14:16:15.123Z"})");
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

}  // namespace
}  // namespace fls
