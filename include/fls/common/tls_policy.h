#pragma once
// The one TLS policy of the KMS link, for both ends: fls-kms's port (wss:// and https://) and
// the sidecar's wss:// client.
//   - TLS 1.2 or 1.3 only;
//   - TLS 1.2: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (kTls12Ciphers):
//     forward secret and AEAD, so no CBC, no SHA-1 MAC, no static RSA or plain DH exchange;
//   - TLS 1.3: OpenSSL's default suites (all of them AEAD with ephemeral key exchange);
//   - no compression, no renegotiation; a server picks the suite by its own preference;
//   - decrypted records are wiped from OpenSSL's read buffer once handed over
//     (SSL_OP_CLEANSE_PLAINTEXT): a registration reply carries the keys.
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <string>

namespace fls {

// `openssl ciphers -v` expands it to ECDHE-{ECDSA,RSA}-AES{128,256}-GCM-SHA{256,384} and
// ECDHE-{ECDSA,RSA}-CHACHA20-POLY1305.
inline constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

enum class TlsRole { client, server };

// Throws std::runtime_error if OpenSSL refuses a setting.
void apply_tls_policy(SSL_CTX* context, TlsRole role);

// The sidecar's context for wss://: verifies the server against the system's CA store, or only
// against `ca_file` when given.
boost::asio::ssl::context make_client_tls_context(const std::string* ca_file);

// fls-kms's context for https:// and wss://, from a PEM certificate chain and private key.
boost::asio::ssl::context make_server_tls_context(const std::string& certificate_chain_file,
                                                  const std::string& private_key_file);

}  // namespace fls
