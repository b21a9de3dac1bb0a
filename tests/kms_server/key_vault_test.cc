// Sealing registration keys with the master key, and the random key source (kms_server/key_vault.h).
// Key pairs are checked with libsodium directly, not through the vault.
#include "fls/kms_server/key_vault.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <set>
#include <string>

namespace fls::kms {
namespace {

SecretBytes bytes_of(std::size_t size, std::uint8_t first) {
  SecretBytes out(size);
  for (std::size_t i = 0; i < size; ++i) out.data()[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

bool same(const SecretBytes& a, const SecretBytes& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

TEST(KeyVault, SealThenOpenGivesTheSecretBack) {
  const KeyVault vault(bytes_of(32, 1));
  const SecretBytes secret = bytes_of(64, 100);
  const auto sealed = vault.seal(secret);
  EXPECT_EQ(sealed.size(), crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 64);
  const auto opened = vault.open(sealed, 64);
  ASSERT_TRUE(opened);
  EXPECT_TRUE(same(*opened, secret));
}

TEST(KeyVault, SealedBytesDoNotContainTheSecretAndDifferEachTime) {
  const KeyVault vault(bytes_of(32, 1));
  const SecretBytes secret = bytes_of(32, 200);
  const auto a = vault.seal(secret);
  const auto b = vault.seal(secret);
  EXPECT_NE(a, b) << "the nonce must be fresh";
  const std::string sealed(a.begin(), a.end());
  EXPECT_EQ(sealed.find(std::string(reinterpret_cast<const char*>(secret.data()), secret.size())), std::string::npos);
}

TEST(KeyVault, AnotherMasterKeyCannotOpen) {
  const KeyVault vault(bytes_of(32, 1));
  const KeyVault other(bytes_of(32, 2));
  const auto sealed = vault.seal(bytes_of(32, 7));
  EXPECT_FALSE(other.open(sealed, 32));
  EXPECT_FALSE(KeyVault(std::nullopt).open(sealed, 32));
}

TEST(KeyVault, TheDevelopmentKeyIsTheSameForEveryVault) {
  const auto sealed = KeyVault(std::nullopt).seal(bytes_of(32, 7));
  const auto opened = KeyVault(std::nullopt).open(sealed, 32);
  ASSERT_TRUE(opened);
  EXPECT_TRUE(same(*opened, bytes_of(32, 7)));
}

TEST(KeyVault, TheWrongSizeIsRefused) {
  const KeyVault vault(bytes_of(32, 1));
  const auto sealed = vault.seal(bytes_of(32, 7));
  EXPECT_FALSE(vault.open(sealed, 31));
  EXPECT_FALSE(vault.open(sealed, 64));
  auto shorter = sealed;
  shorter.pop_back();
  EXPECT_FALSE(vault.open(shorter, 32));
  EXPECT_FALSE(vault.open({}, 0));
}

TEST(KeyVault, AnyChangedByteIsRefused) {
  const KeyVault vault(bytes_of(32, 1));
  const auto sealed = vault.seal(bytes_of(32, 7));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto tampered = sealed;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(vault.open(tampered, 32)) << "byte " << i;
  }
}

TEST(RandomKeySource, KeysAreDistinctAndThePublicKeyMatchesTheSecret) {
  const auto source = make_random_key_source();
  const IssuedKeys a = source->issue();
  const IssuedKeys b = source->issue();
  EXPECT_FALSE(same(a.row_key, b.row_key));
  EXPECT_FALSE(same(a.batch_secret_key, b.batch_secret_key));
  EXPECT_NE(a.batch_public_key, b.batch_public_key);
  for (const IssuedKeys* keys : {&a, &b}) {
    ASSERT_EQ(keys->row_key.size(), 32u);
    ASSERT_EQ(keys->batch_secret_key.size(), 64u);
    // The public key libsodium derives from the secret key's seed is the one issued...
    unsigned char derived[crypto_sign_PUBLICKEYBYTES];
    ASSERT_EQ(crypto_sign_ed25519_sk_to_pk(derived, keys->batch_secret_key.data()), 0);
    EXPECT_EQ(std::memcmp(derived, keys->batch_public_key.data(), sizeof derived), 0);
    unsigned char from_seed_pk[crypto_sign_PUBLICKEYBYTES], from_seed_sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(from_seed_pk, from_seed_sk, keys->batch_secret_key.data());
    EXPECT_EQ(std::memcmp(from_seed_pk, keys->batch_public_key.data(), sizeof from_seed_pk), 0);
    // ...and a signature made with the secret verifies under it.
    const unsigned char message[] = "challenge";
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, nullptr, message, sizeof message, keys->batch_secret_key.data());
    EXPECT_EQ(crypto_sign_verify_detached(signature, message, sizeof message, keys->batch_public_key.data()), 0);
  }
}

TEST(RandomKeySource, ChallengesAre16BytesOfLowerHexAndDistinct) {
  const auto source = make_random_key_source();
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string challenge = source->challenge();
    ASSERT_EQ(challenge.size(), 32u);
    EXPECT_EQ(challenge.find_first_not_of("0123456789abcdef"), std::string::npos) << challenge;
    EXPECT_TRUE(seen.insert(challenge).second);
  }
}

}  // namespace
}  // namespace fls::kms
