// ed25519 batch signatures (protocol.md §3) with the 64-byte seed||public-key batchKey.
#include "fls/signing/batch_signer.h"

#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <string>

#include "fls/common/secret_bytes.h"
#include "independent_crypto.h"

namespace fls {
namespace {

// RFC 8032 §7.1.
struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message_hex;
  const char* signature;
};

constexpr Rfc8032Vector kTest1{"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                               "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                               "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e397"
                               "01cf9b46bd25bf5f0595bbe24655141438e7a100b"};
constexpr Rfc8032Vector kTest2{"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                               "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                               "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f361"
                               "3d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"};
constexpr Rfc8032Vector kTest3{"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                               "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
                               "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f76"
                               "0984dc6594a7c15e9716ed28dc027beceea1ec40a"};

std::string message_of(const Rfc8032Vector& v) {
  const auto bytes = test::unhex(v.message_hex);
  return std::string(bytes.begin(), bytes.end());
}

std::optional<BatchSigner> signer_from_hex(const std::string& secret_key_hex, std::size_t size) {
  auto key = SecretBytes::from_hex(secret_key_hex, size);
  if (!key) return std::nullopt;
  return BatchSigner::from_secret_key(std::move(*key));
}

std::optional<BatchSigner> signer_for(const Rfc8032Vector& v) {
  return signer_from_hex(std::string(v.seed) + v.public_key, BatchSigner::kSecretKeySize);
}

class BatchSignerRfc8032 : public testing::TestWithParam<Rfc8032Vector> {};

TEST_P(BatchSignerRfc8032, SignatureEqualsTheRfc) {
  const auto& v = GetParam();
  const auto signer = signer_for(v);
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->sign_hex(message_of(v)), v.signature);
}

TEST_P(BatchSignerRfc8032, PublicKeyHexEqualsTheRfc) {
  const auto& v = GetParam();
  const auto signer = signer_for(v);
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->public_key_hex(), v.public_key);
}

// The central KMS hands out keys in upper case (protocol.md §4); the output stays lower case.
TEST_P(BatchSignerRfc8032, UpperCaseKeyGivesTheSameLowerCaseSignature) {
  const auto& v = GetParam();
  std::string upper = std::string(v.seed) + v.public_key;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto signer = signer_from_hex(upper, BatchSigner::kSecretKeySize);
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->sign_hex(message_of(v)), v.signature);
}

TEST_P(BatchSignerRfc8032, VerifyBatchSignatureAcceptsTheRfcSignature) {
  const auto& v = GetParam();
  EXPECT_TRUE(verify_batch_signature(v.public_key, message_of(v), v.signature));
}

INSTANTIATE_TEST_SUITE_P(Rfc8032Section7_1, BatchSignerRfc8032, testing::Values(kTest1, kTest2, kTest3),
                         [](const testing::TestParamInfo<Rfc8032Vector>& info) {
                           return "Test" + std::to_string(info.index + 1);
                         });

// An independent check of the signature with OpenSSL's EVP ed25519 verification.
TEST(BatchSigner, SignatureVerifiesWithOpenSsl) {
  const auto signer = signer_for(kTest3);
  ASSERT_TRUE(signer);
  const std::string data =
      R"([{"row":{"keyId":"k","sequence":1,"message":"a","timestamp":"2017-07-14T14:16:15.123Z"},"signature":"0123456789abcdef0123456789abcdef"}])";
  const std::string signature = signer->sign_hex(data);
  const auto public_key = test::unhex(signer->public_key_hex());
  EXPECT_TRUE(test::ed25519_verify(public_key, data, test::unhex(signature)));
  // ... and the check itself is able to fail: one byte changed in the data.
  std::string tampered = data;
  tampered[tampered.size() - 3] ^= 1;
  EXPECT_FALSE(test::ed25519_verify(public_key, tampered, test::unhex(signature)));
}

TEST(VerifyBatchSignature, RejectsAnotherMessageKeyOrSignature) {
  const std::string message = message_of(kTest3);
  EXPECT_FALSE(verify_batch_signature(kTest3.public_key, message + "x", kTest3.signature));
  EXPECT_FALSE(verify_batch_signature(kTest2.public_key, message, kTest3.signature));
  EXPECT_FALSE(verify_batch_signature(kTest3.public_key, message, kTest2.signature));
}

// The central KMS writes hex in upper case; case must not matter.
TEST(VerifyBatchSignature, AcceptsUpperCaseHex) {
  std::string public_key = kTest2.public_key;
  std::string signature = kTest2.signature;
  for (std::string* text : {&public_key, &signature}) {
    for (char& c : *text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_TRUE(verify_batch_signature(public_key, message_of(kTest2), signature));
}

TEST(VerifyBatchSignature, MalformedHexIsFalseNotAnError) {
  const std::string message = message_of(kTest1);
  const std::string signature = kTest1.signature;
  EXPECT_FALSE(verify_batch_signature(kTest1.public_key, message, signature.substr(2)));
  EXPECT_FALSE(verify_batch_signature(kTest1.public_key, message, signature + "00"));
  EXPECT_FALSE(verify_batch_signature(kTest1.public_key, message, "zz" + signature.substr(2)));
  EXPECT_FALSE(verify_batch_signature(std::string(kTest1.public_key).substr(2), message, signature));
  EXPECT_FALSE(verify_batch_signature("", message, signature));
}

TEST(BatchSigner, SecondHalfThatIsNotThePublicKeyIsRejected) {
  // TEST 1's seed followed by TEST 2's public key.
  EXPECT_FALSE(signer_from_hex(std::string(kTest1.seed) + kTest2.public_key, BatchSigner::kSecretKeySize));
  // The correct public key with one bit flipped in its last byte.
  std::string flipped = std::string(kTest1.seed) + kTest1.public_key;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(signer_from_hex(flipped, BatchSigner::kSecretKeySize));
}

TEST(BatchSigner, WrongSizeIsRejected) {
  EXPECT_FALSE(signer_from_hex(kTest1.seed, 32));  // a bare seed
  // A valid key with one byte too many, or the valid key's first 63 bytes.
  EXPECT_FALSE(signer_from_hex(std::string(kTest1.seed) + kTest1.public_key + "00", 65));
  EXPECT_FALSE(signer_from_hex((std::string(kTest1.seed) + kTest1.public_key).substr(0, 126), 63));
  EXPECT_FALSE(BatchSigner::from_secret_key(SecretBytes(63)));
  EXPECT_FALSE(BatchSigner::from_secret_key(SecretBytes(65)));
  EXPECT_FALSE(BatchSigner::from_secret_key(SecretBytes(0)));
}

TEST(BatchSigner, SignatureIs128LowerCaseHexDigits) {
  const auto signer = signer_for(kTest2);
  ASSERT_TRUE(signer);
  const std::string signature = signer->sign_hex("any batch");
  ASSERT_EQ(signature.size(), 128u);
  for (const char c : signature) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << signature;
  }
}

}  // namespace
}  // namespace fls
