// Bearer tokens kept as SHA-256 hashes (kms_server/tokens.h); digests checked against libsodium
// and a published test vector.
#include "fls/kms_server/tokens.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "fls/common/hex.h"

namespace fls::kms {
namespace {

std::string hex_of(const TokenHash& hash) { return to_hex(hash.data(), hash.size()); }

TEST(TokenHash, IsSha256) {
  // FIPS 180-2 appendix B.1 and the empty string's digest.
  EXPECT_EQ(hex_of(token_hash("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of(token_hash("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TokenHash, HashesEveryByteIncludingNul) {
  EXPECT_NE(token_hash(std::string_view("a\0b", 3)), token_hash("a"));
  EXPECT_NE(token_hash("token"), token_hash("token "));
}

TEST(SameHash, EqualOnlyWhenEveryByteIs) {
  const TokenHash a = token_hash("fls_one");
  EXPECT_TRUE(same_hash(a, token_hash("fls_one")));
  EXPECT_FALSE(same_hash(a, token_hash("fls_two")));
  for (std::size_t i = 0; i < a.size(); ++i) {
    TokenHash b = a;
    b[i] ^= 0x80;
    EXPECT_FALSE(same_hash(a, b)) << "byte " << i;
  }
}

TEST(NewCredentialToken, PrefixedRandom256BitsInLowerHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string token = new_credential_token();
    ASSERT_EQ(token.size(), 4u + 64u) << token;
    EXPECT_EQ(token.rfind("fls_", 0), 0u) << token;
    EXPECT_EQ(token.find_first_not_of("0123456789abcdef", 4), std::string::npos) << token;
    EXPECT_TRUE(seen.insert(token).second);
  }
}

}  // namespace
}  // namespace fls::kms
