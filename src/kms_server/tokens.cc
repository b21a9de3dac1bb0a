#include "fls/kms_server/tokens.h"

#include <sodium.h>

#include "fls/common/hex.h"
#include "fls/common/secret_bytes.h"

namespace fls::kms {

TokenHash token_hash(std::string_view token) {
  TokenHash out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return out;
}

bool same_hash(const TokenHash& a, const TokenHash& b) { return sodium_memcmp(a.data(), b.data(), a.size()) == 0; }

std::string new_credential_token() {
  SecretBytes random(32);
  randombytes_buf(random.data(), random.size());
  return "fls_" + to_hex(random.data(), random.size());
}

}  // namespace fls::kms
