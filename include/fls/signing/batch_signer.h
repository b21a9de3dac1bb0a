#pragma once
// ed25519 batch signatures (libsodium), keyed with the registration's 64-byte batchKey.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fls/common/secret_bytes.h"

namespace fls {

class BatchSigner {
 public:
  static constexpr std::size_t kSecretKeySize = 64;  // seed followed by public key

  // nullopt unless `secret_key` is 64 bytes whose second half is the public key of its first.
  static std::optional<BatchSigner> from_secret_key(SecretBytes secret_key);

  // 128 lower-case hex digits: the detached signature of `data`.
  std::string sign_hex(std::string_view data) const;
  // 64 lower-case hex digits.
  std::string public_key_hex() const;

 private:
  explicit BatchSigner(SecretBytes secret_key) : secret_key_(std::move(secret_key)) {}
  SecretBytes secret_key_;
};

using BatchPublicKey = std::array<std::uint8_t, 32>;

enum class SignatureCheck { valid, malformed, invalid };

// Whether `signature_hex` is a valid ed25519 signature of `data` under `public_key`:
// malformed unless it is 128 hex digits (either case).
SignatureCheck check_batch_signature(const BatchPublicKey& public_key, std::string_view data,
                                     std::string_view signature_hex);

// True if `signature_hex` (128 hex digits) is a valid ed25519 signature of `data` under
// `public_key_hex` (64 hex digits).
bool verify_batch_signature(std::string_view public_key_hex, std::string_view data, std::string_view signature_hex);

}  // namespace fls
