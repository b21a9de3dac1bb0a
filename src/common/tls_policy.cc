#include "fls/common/tls_policy.h"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fls {

void apply_tls_policy(SSL_CTX* context, TlsRole role) {
  if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("OpenSSL refused TLS 1.2 as the minimum protocol version");
  }
  if (SSL_CTX_set_cipher_list(context, kTls12Ciphers) != 1) {
    throw std::runtime_error(std::string("OpenSSL has none of the TLS 1.2 cipher suites ") + kTls12Ciphers);
  }
  // SSL_CTX_set_ciphersuites (TLS 1.3) is left alone: its defaults are all AEAD.
  std::uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT;
  if (role == TlsRole::server) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(context, options);
}

}  // namespace fls
