#include "fls/signing/batch_signer.h"

#include <sodium.h>

#include "fls/common/hex.h"

#include <array>
#include <cstring>
#include <stdexcept>

namespace fls {
std::optional<BatchSigner> BatchSigner::from_secret_key(SecretBytes secret_key) {
  static_assert(kSecretKeySize == crypto_sign_SECRETKEYBYTES);
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  if (secret_key.size() != kSecretKeySize) return std::nullopt;
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  SecretBytes expanded(kSecretKeySize);
  crypto_sign_seed_keypair(public_key, expanded.data(), secret_key.data());
  if (std::memcmp(public_key, secret_key.data() + crypto_sign_SEEDBYTES, sizeof public_key) != 0) {
    return std::nullopt;
  }
  return BatchSigner(std::move(secret_key));
}

std::string BatchSigner::sign_hex(std::string_view data) const {
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                       secret_key_.data());
  return to_hex(signature, sizeof signature);
}

std::string BatchSigner::public_key_hex() const {
  return to_hex(secret_key_.data() + crypto_sign_SEEDBYTES, crypto_sign_PUBLICKEYBYTES);
}

namespace {

// Public values: decoded on the stack, not into locked pages (SecretBytes maps pages per value).
template <class Byte, std::size_t N>
bool decode_hex(std::string_view hex, std::array<Byte, N>& out) {
  std::size_t decoded = 0;
  const char* end = nullptr;
  return hex.size() == 2 * N && sodium_hex2bin(out.data(), N, hex.data(), hex.size(), nullptr, &decoded, &end) == 0 &&
         decoded == N && end == hex.data() + hex.size();
}

}  // namespace

SignatureCheck check_batch_signature(const BatchPublicKey& public_key, std::string_view data,
                                     std::string_view signature_hex) {
  static_assert(sizeof(BatchPublicKey) == crypto_sign_PUBLICKEYBYTES);
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  if (!decode_hex(signature_hex, signature)) return SignatureCheck::malformed;
  if (sodium_init() < 0) return SignatureCheck::invalid;  // no libsodium, no valid signature
  return crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                     public_key.data()) == 0
             ? SignatureCheck::valid
             : SignatureCheck::invalid;
}

bool verify_batch_signature(std::string_view public_key_hex, std::string_view data, std::string_view signature_hex) {
  BatchPublicKey public_key{};
  return decode_hex(public_key_hex, public_key) &&
         check_batch_signature(public_key, data, signature_hex) == SignatureCheck::valid;
}

}  // namespace fls
