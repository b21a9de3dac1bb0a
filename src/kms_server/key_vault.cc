#include "fls/kms_server/key_vault.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "fls/common/hex.h"

namespace fls::kms {

KeyVault::KeyVault(std::optional<SecretBytes> master_key) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  static_assert(crypto_secretbox_KEYBYTES == 32);
  if (master_key) {
    master_key_ = std::move(*master_key);
  }  // else: all zero, the development key
}

namespace {

class RandomKeySource final : public KeySource {
 public:
  IssuedKeys issue() override {
    IssuedKeys keys;
    randombytes_buf(keys.row_key.data(), keys.row_key.size());
    crypto_sign_keypair(keys.batch_public_key.data(), keys.batch_secret_key.data());
    return keys;
  }

  std::string challenge() override {
    std::array<std::uint8_t, 16> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return to_hex(bytes.data(), bytes.size());
  }
};

}  // namespace

std::unique_ptr<KeySource> make_random_key_source() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  return std::make_unique<RandomKeySource>();
}

std::vector<std::uint8_t> KeyVault::seal(const SecretBytes& secret) const {
  std::vector<std::uint8_t> out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + secret.size());
  randombytes_buf(out.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out.data() + crypto_secretbox_NONCEBYTES, secret.data(), secret.size(), out.data(),
                        master_key_.data());
  return out;
}

std::optional<SecretBytes> KeyVault::open(const std::vector<std::uint8_t>& sealed, std::size_t size) const {
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + size) return std::nullopt;
  SecretBytes out(size);
  if (crypto_secretbox_open_easy(out.data(), sealed.data() + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, sealed.data(), master_key_.data()) != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace fls::kms
