// AES-256-CMAC row signatures (protocol.md §2) and the hex key decoding they are built from.
#include "fls/signing/row_signer.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "fls/common/secret_bytes.h"
#include "independent_crypto.h"

namespace fls {
namespace {

// NIST SP 800-38B, appendix D.3 (AES-256 CMAC examples 9-12).
constexpr char kNistKey[] = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
constexpr char kNistMessage64[] =
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710";

std::string bytes_of_hex(std::string_view hex) {
  const auto bytes = test::unhex(hex);
  return std::string(bytes.begin(), bytes.end());
}

RowSigner nist_signer() {
  auto key = SecretBytes::from_hex(kNistKey, RowSigner::kKeySize);
  if (!key) throw std::logic_error("NIST key did not decode");
  return RowSigner(*key);
}

// The first `length` bytes of the NIST example message.
std::string nist_message(std::size_t length) {
  return bytes_of_hex(std::string_view(kNistMessage64).substr(0, 2 * length));
}

TEST(RowSignerNist, EmptyMessage) {
  EXPECT_EQ(nist_signer().sign_hex(nist_message(0)), "028962f61b7bf89efc6b551f4667d983");
}

TEST(RowSignerNist, OneBlockMessage) {
  EXPECT_EQ(nist_signer().sign_hex(nist_message(16)), "28a7023f452e8f82bd4bf28d8c37c35c");
}

// 40 bytes: the last block is partial, so it is padded and keyed with K2.
TEST(RowSignerNist, FortyByteMessage) {
  EXPECT_EQ(nist_signer().sign_hex(nist_message(40)), "aaf3d8f1de5640c232f5b169b9c911e6");
}

TEST(RowSignerNist, SixtyFourByteMessage) {
  EXPECT_EQ(nist_signer().sign_hex(nist_message(64)), "e1992190549f6ed5696a2c056c315410");
}

// One context is reused for every row: a second signature must not carry state over.
TEST(RowSigner, SameMessageTwiceGivesTheSameTag) {
  RowSigner signer = nist_signer();
  const std::string message = nist_message(40);
  const std::string first = signer.sign_hex(message);
  EXPECT_EQ(signer.sign_hex(nist_message(64)), "e1992190549f6ed5696a2c056c315410");
  EXPECT_EQ(signer.sign_hex(message), first);
  EXPECT_EQ(signer.sign_hex(message), "aaf3d8f1de5640c232f5b169b9c911e6");
}

TEST(RowSigner, SignHexIntoOverwritesTheBuffer) {
  RowSigner signer = nist_signer();
  std::string out = "previous contents that are longer than thirty-two characters";
  signer.sign_hex_into(nist_message(16), out);
  EXPECT_EQ(out, "28a7023f452e8f82bd4bf28d8c37c35c");
  signer.sign_hex_into("", out);
  EXPECT_EQ(out, "028962f61b7bf89efc6b551f4667d983");
}

TEST(RowSigner, SignatureIs32LowerCaseHexDigits) {
  RowSigner signer = nist_signer();
  const std::string tag = signer.sign_hex("any row");
  ASSERT_EQ(tag.size(), 32u);
  for (const char c : tag) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << tag;
}

TEST(RowSigner, MovedSignerKeepsItsKey) {
  RowSigner original = nist_signer();
  RowSigner moved(std::move(original));
  EXPECT_EQ(moved.sign_hex(nist_message(16)), "28a7023f452e8f82bd4bf28d8c37c35c");
}

// Every length from 0 to 70 bytes crosses the complete/partial last-block cases several times;
// the reference is a CMAC built by hand from AES-ECB (tests/support/independent_crypto).
TEST(RowSigner, AgreesWithIndependentCmacForEveryLengthUpTo70) {
  const auto key_bytes = test::unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  auto key = SecretBytes::from_hex(test::hex(key_bytes), RowSigner::kKeySize);
  ASSERT_TRUE(key);
  RowSigner signer(*key);
  std::string message;
  for (std::size_t length = 0; length <= 70; ++length) {
    EXPECT_EQ(signer.sign_hex(message), test::hex(test::rfc4493_cmac(key_bytes, message))) << "length " << length;
    message.push_back(static_cast<char>(length * 37 + 11));
  }
}

TEST(RowSigner, KeyOfWrongSizeThrowsInvalidArgument) {
  auto short_key = SecretBytes::from_hex("2b7e151628aed2a6abf7158809cf4f3c", 16);  // an AES-128 key
  ASSERT_TRUE(short_key);
  EXPECT_THROW(RowSigner{*short_key}, std::invalid_argument);
  EXPECT_THROW(RowSigner{SecretBytes(33)}, std::invalid_argument);
  EXPECT_THROW(RowSigner{SecretBytes(0)}, std::invalid_argument);
}

// ---- SecretBytes::from_hex ----

TEST(SecretBytesFromHex, DecodesExactSize) {
  const auto key = SecretBytes::from_hex("00017f80ff", 5);
  ASSERT_TRUE(key);
  ASSERT_EQ(key->size(), 5u);
  EXPECT_EQ(key->data()[0], 0x00);
  EXPECT_EQ(key->data()[1], 0x01);
  EXPECT_EQ(key->data()[2], 0x7f);
  EXPECT_EQ(key->data()[3], 0x80);
  EXPECT_EQ(key->data()[4], 0xff);
}

// The central KMS sends its keys in upper case (protocol.md §4).
TEST(SecretBytesFromHex, AcceptsUpperCaseAndGivesTheSameKey) {
  const auto upper =
      SecretBytes::from_hex("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4", RowSigner::kKeySize);
  ASSERT_TRUE(upper);
  EXPECT_EQ(RowSigner(*upper).sign_hex(""), "028962f61b7bf89efc6b551f4667d983");
  const auto mixed = SecretBytes::from_hex("aBcDeF", 3);
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->data()[0], 0xab);
  EXPECT_EQ(mixed->data()[2], 0xef);
}

TEST(SecretBytesFromHex, WrongLengthIsNullopt) {
  EXPECT_FALSE(SecretBytes::from_hex("0011223344", 4));  // one byte too many
  EXPECT_FALSE(SecretBytes::from_hex("001122", 4));      // one byte short
  EXPECT_FALSE(SecretBytes::from_hex("0011223", 4));     // odd digit count
  EXPECT_FALSE(SecretBytes::from_hex("", 32));
  EXPECT_FALSE(SecretBytes::from_hex(std::string(62, 'a'), RowSigner::kKeySize));
}

TEST(SecretBytesFromHex, NonHexIsNullopt) {
  EXPECT_FALSE(SecretBytes::from_hex("00112g", 3));
  EXPECT_FALSE(SecretBytes::from_hex("zz1122", 3));
  EXPECT_FALSE(SecretBytes::from_hex("00 122", 3));
  EXPECT_FALSE(SecretBytes::from_hex("0x1122", 3));
  EXPECT_FALSE(SecretBytes::from_hex("0011-2", 3));
}

}  // namespace
}  // namespace fls
