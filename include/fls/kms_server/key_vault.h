#pragma once
// Key generation for registrations, and sealing of secret keys with the KMS master key
// (libsodium secretbox) so that only sealed keys ever reach the database.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fls/common/secret_bytes.h"

namespace fls::kms {

struct IssuedKeys {
  SecretBytes row_key{32};
  SecretBytes batch_secret_key{64};  // seed || public key
  std::array<std::uint8_t, 32> batch_public_key{};
};

// Where new registrations' keys and challenges come from: the operating system's random
// source in the KMS, a fixed sequence in a test that must repeat a session byte for byte.
// Used on the I/O thread only.
class KeySource {
 public:
  virtual ~KeySource() = default;
  virtual IssuedKeys issue() = 0;
  // What a registering sidecar must sign: 16 random bytes as lower-case hex.
  virtual std::string challenge() = 0;
};

std::unique_ptr<KeySource> make_random_key_source();

class KeyVault {
 public:
  // Without a master key (development mode only) a fixed, publicly known key is used.
  explicit KeyVault(std::optional<SecretBytes> master_key);

  std::vector<std::uint8_t> seal(const SecretBytes& secret) const;
  // nullopt if `sealed` was not sealed with this master key or is not `size` bytes inside.
  std::optional<SecretBytes> open(const std::vector<std::uint8_t>& sealed, std::size_t size) const;

 private:
  SecretBytes master_key_{32};
};

}  // namespace fls::kms
