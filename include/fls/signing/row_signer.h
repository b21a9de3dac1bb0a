#pragma once
// AES-256-CMAC (RFC 4493 / NIST SP 800-38B) row signatures, keyed with the registration's rowKey.
#include <memory>
#include <string>
#include <string_view>

#include "fls/common/secret_bytes.h"

namespace fls {

class RowSigner {
 public:
  static constexpr std::size_t kKeySize = 32;

  // `key` must be kKeySize bytes. Not thread-safe: one signer per thread. OpenSSL's context,
  // which holds the expanded key, is allocated in locked memory left out of core dumps when
  // the process installed openssl_key_memory.h's allocation functions (both mains do).
  explicit RowSigner(const SecretBytes& key);
  ~RowSigner();
  RowSigner(RowSigner&&) noexcept;
  RowSigner& operator=(RowSigner&&) noexcept;

  // 32 lower-case hex digits.
  std::string sign_hex(std::string_view message);
  // Same, written over `out` so a caller can reuse one buffer.
  void sign_hex_into(std::string_view message, std::string& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fls
