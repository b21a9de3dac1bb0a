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

boost::asio::ssl::context make_client_tls_context(const std::string* ca_file) {
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  apply_tls_policy(tls.native_handle(), TlsRole::client);
  tls.set_verify_mode(boost::asio::ssl::verify_peer);
  if (ca_file != nullptr) {
    tls.load_verify_file(*ca_file);
  } else {
    tls.set_default_verify_paths();
  }
  return tls;
}

boost::asio::ssl::context make_server_tls_context(const std::string& certificate_chain_file,
                                                  const std::string& private_key_file) {
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_server);
  apply_tls_policy(tls.native_handle(), TlsRole::server);
  tls.use_certificate_chain_file(certificate_chain_file);
  tls.use_private_key_file(private_key_file, boost::asio::ssl::context::pem);
  return tls;
}

}  // namespace fls
