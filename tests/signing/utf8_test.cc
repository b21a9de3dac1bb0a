// Decoding payload bytes as UTF-8 the WHATWG way, as Node.js did (signing/utf8.h).
#include "fls/signing/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "repeat.h"

namespace fls {
namespace {

// The UTF-8 bytes of U+FFFD REPLACEMENT CHARACTER.
constexpr char kFffd[] = "\xEF\xBF\xBD";

std::string utf8_decoded(std::string_view bytes) {
  std::string out;
  append_utf8_decoded(out, bytes);
  return out;
}

using test::repeat;

// ---- append_utf8_decoded / is_valid_utf8 (WHATWG maximal subparts, as Node's Buffer) ----

// is_valid_utf8 skips ASCII eight bytes at a time: a sequence at any position, valid or not,
// must still be judged.
TEST(Utf8Valid, SequencesAtEveryPositionOfALongText) {
  const std::vector<std::pair<std::string, bool>> sequences{{"\xC3\xA9", true},      {"\xF0\x9F\x98\x80", true},
                                                            {"\x80", false},         {"\xC3", false},
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
  for (const std::string& text :
       {std::string(""), std::string("plain ascii"), std::string("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
        std::string("nul\0kept", 8), std::string("\xF4\x8F\xBF\xBF\xEE\x80\x80\xED\x9F\xBF")}) {
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
  EXPECT_FALSE(
      is_valid_utf8("\xE2\x82"
                    "A"));
  EXPECT_EQ(utf8_decoded("\xE2\x82"
                         "A"),
            std::string(kFffd) + "A");
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

// The ASCII fast path reads eight bytes at a time: a bad byte in the last, partial word counts.
TEST(Utf8Valid, InvalidByteAfterLongAsciiRuns) {
  for (std::size_t length = 1; length < 40; ++length) {
    std::string text(length, 'a');
    EXPECT_TRUE(is_valid_utf8(text)) << length;
    text.back() = '\x80';
    EXPECT_FALSE(is_valid_utf8(text)) << length;
  }
}

}  // namespace
}  // namespace fls
