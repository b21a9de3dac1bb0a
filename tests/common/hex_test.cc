// to_hex: lower-case hexadecimal, two digits a byte, most significant nibble first.
#include "fls/common/hex.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace fls {
namespace {

TEST(ToHex, EmptyIsEmpty) { EXPECT_EQ(to_hex(nullptr, 0), ""); }

TEST(ToHex, LowerCaseHighNibbleFirst) {
  const std::uint8_t bytes[] = {0x00, 0x01, 0x0f, 0x10, 0xab, 0xcd, 0xef, 0xff};
  EXPECT_EQ(to_hex(bytes, sizeof bytes), "00010f10abcdefff");
}

TEST(ToHex, EveryByteValue) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<std::uint8_t>(b);
    const std::string expected{kDigits[b >> 4], kDigits[b & 15]};
    EXPECT_EQ(to_hex(&byte, 1), expected) << b;
  }
}

TEST(ToHex, OnlyTheGivenSize) {
  const std::uint8_t bytes[] = {0x12, 0x34, 0x56};
  const std::string hex = to_hex(bytes, 2);
  EXPECT_EQ(hex, "1234");
  EXPECT_EQ(hex.size(), 4u);  // no terminating NUL kept
}

}  // namespace
}  // namespace fls
