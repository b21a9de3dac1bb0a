#pragma once
// Signature checks for tests, written against OpenSSL's primitives and not the sidecar's
// signing code, so a shared mistake cannot hide itself.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fls::test {

using Bytes = std::vector<std::uint8_t>;

Bytes random_bytes(std::size_t size);
std::string hex(const Bytes& bytes);
Bytes unhex(std::string_view hex);  // either case

// AES-256-CMAC built by hand from AES-ECB, following RFC 4493 step by step.
Bytes rfc4493_cmac(const Bytes& key, std::string_view message);

// An ed25519 key pair made by OpenSSL from `seed`.
struct Ed25519Pair {
  Bytes seed;                // 32 bytes
  Bytes public_key;          // 32 bytes
  Bytes secret_key() const;  // seed || public key, the 64-byte form the KMS hands out
};
Ed25519Pair ed25519_from_seed(const Bytes& seed);

bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature);
// An ed25519 signature by OpenSSL with the key made from `seed` (32 bytes).
Bytes ed25519_sign(const Bytes& seed, std::string_view message);

}  // namespace fls::test
