#pragma once
// A KeySource for tests whose keys and challenges are fixed: derived from a counter, so the
// n-th registration always gets the same ones and a whole session repeats byte for byte.
#include <sodium.h>

#include <cstdint>
#include <string>

#include "fls/common/hex.h"
#include "fls/kms_server/key_vault.h"

namespace fls::test {

class CountingKeys final : public kms::KeySource {
 public:
  kms::IssuedKeys issue() override {
    ++issued_;
    kms::IssuedKeys keys;
    for (std::size_t i = 0; i < keys.row_key.size(); ++i) {
      keys.row_key.data()[i] = static_cast<std::uint8_t>(issued_ * 7 + i);
    }
    std::uint8_t seed[crypto_sign_SEEDBYTES];
    for (std::size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<std::uint8_t>(issued_ * 13 + 3 * i);
    crypto_sign_seed_keypair(keys.batch_public_key.data(), keys.batch_secret_key.data(), seed);
    return keys;
  }

  std::string challenge() override {
    std::uint8_t bytes[16];
    for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(++challenges_ * 17 + i);
    return to_hex(bytes, sizeof bytes);
  }

 private:
  unsigned issued_ = 0;
  unsigned challenges_ = 0;
};

}  // namespace fls::test
