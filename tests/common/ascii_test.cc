#include "fls/common/ascii.h"

#include <gtest/gtest.h>

#include <clocale>

namespace fls {
namespace {

TEST(Ascii, LowerFoldsOnlyAsciiLetters) {
  EXPECT_EQ(ascii_lower("9B2E-ABCDEF-xyz"), "9b2e-abcdef-xyz");
  // Bytes outside ASCII (here UTF-8 for "Ä") pass through untouched.
  EXPECT_EQ(ascii_lower("\xC3\x84Z"), "\xC3\x84z");
  EXPECT_EQ(ascii_lower(""), "");
}

TEST(Ascii, EqualsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(ascii_iequals("Register", "rEGISTER"));
  EXPECT_FALSE(ascii_iequals("register", "registe"));
  EXPECT_FALSE(ascii_iequals("batch", "batcj"));
  EXPECT_FALSE(ascii_iequals("\xC3\x84", "\xC3\xA4"));
}

TEST(Ascii, TheProcessLocaleDoesNotChangeTheResult) {
  // A process locale with other case rules (if the machine has one) must not leak into protocol text.
  const char* previous = std::setlocale(LC_ALL, nullptr);
  const std::string saved = previous ? previous : "C";
  std::setlocale(LC_ALL, "tr_TR.UTF-8");
  EXPECT_EQ(ascii_lower("I"), "i");
  EXPECT_TRUE(ascii_iequals("INQUIRY", "inquiry"));
  std::setlocale(LC_ALL, saved.c_str());
}

}  // namespace
}  // namespace fls
