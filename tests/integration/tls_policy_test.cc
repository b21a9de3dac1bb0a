// The TLS policy of the KMS link (fls/common/tls_policy.h), seen from outside: a real fls-kms
// with KMS_TLS_CERT/KMS_TLS_KEY is probed by TLS clients built on OpenSSL directly (not the
// product's code), each limited to one protocol version and a few TLS 1.2 suites; and the
// sidecar's wss:// client is pointed at a TLS server that offers only a CBC suite.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

#include "child_process.h"
#include "sidecar_fixture.h"
#include "test_certificate.h"
#include "test_database.h"

namespace fls::test {
namespace {

// A connected TCP socket to 127.0.0.1:`port` whose reads and writes give up after 10 s.
int connect_loopback(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct Handshake {
  bool accepted = false;
  std::string version;  // e.g. "TLSv1.2"
  std::string cipher;   // OpenSSL's name of the suite
  unsigned long error = 0;
  bool renegotiated = false;  // only when asked to try
  unsigned long renegotiation_error = 0;

  // The server refused with an alert (OpenSSL files received alerts at reason 1000 + alert),
  // rather than this client failing to offer anything.
  bool refused_by_server() const { return !accepted && ERR_GET_REASON(error) > SSL_AD_REASON_OFFSET; }
  std::string describe() const {
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    return accepted ? version + " " + cipher : std::string("refused: ") + text;
  }
};

// One TLS handshake with 127.0.0.1:`port` by a client that speaks only `version` and, below
// TLS 1.3, offers only `tls12_ciphers` (at security level 0, so that it may offer what the
// server must refuse). The server is not verified: the question is what it accepts.
Handshake handshake(std::uint16_t port, int version, const std::string& tls12_ciphers = "DEFAULT",
                    bool try_renegotiation = false) {
  Handshake result;
  ERR_clear_error();
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(context, version);
  SSL_CTX_set_max_proto_version(context, version);
  SSL_CTX_set_cipher_list(context, (tls12_ciphers + ":@SECLEVEL=0").c_str());
  SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nullptr);
  const int fd = connect_loopback(port);
  SSL* ssl = SSL_new(context);
  SSL_set_fd(ssl, fd);
  if (fd >= 0 && SSL_connect(ssl) == 1) {
    result.accepted = true;
    result.version = SSL_get_version(ssl);
    result.cipher = SSL_get_cipher_name(ssl);
    if (try_renegotiation) {
      ERR_clear_error();
      result.renegotiated = SSL_renegotiate(ssl) == 1 && SSL_do_handshake(ssl) == 1;
      result.renegotiation_error = ERR_peek_last_error();
    }
  } else {
    result.error = ERR_peek_last_error();
  }
  SSL_free(ssl);
  if (fd >= 0) close(fd);
  SSL_CTX_free(context);
  return result;
}

// A self-signed RSA-2048 certificate for 127.0.0.1 in PEM files, for the suites with RSA
// authentication and key exchange (the shared test certificate is ECDSA).
class RsaCertificate {
 public:
  RsaCertificate() {
    char dir[] = "/tmp/fls-rsa-XXXXXX";
    if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    EVP_PKEY* key = EVP_RSA_gen(2048);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    const bool ok = X509_sign(cert, key, EVP_sha256()) > 0 &&
                    write(cert_file(), [&](FILE* f) { return PEM_write_X509(f, cert) == 1; }) &&
                    write(key_file(), [&](FILE* f) {
                      return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
                    });
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) throw std::runtime_error("could not make an RSA test certificate");
  }
  ~RsaCertificate() {
    unlink(cert_file().c_str());
    unlink(key_file().c_str());
    rmdir(dir_.c_str());
  }
  std::string cert_file() const { return dir_ + "/cert.pem"; }
  std::string key_file() const { return dir_ + "/key.pem"; }

 private:
  template <class Writer>
  static bool write(const std::string& path, Writer writer) {
    FILE* f = std::fopen(path.c_str(), "w");
    const bool ok = f != nullptr && writer(f);
    if (f != nullptr) std::fclose(f);
    return ok;
  }
  std::string dir_;
};

class KmsTlsPolicyTest : public ::testing::Test {
 protected:
  void start_kms(const std::string& cert_file, const std::string& key_file) {
    kms_ = std::make_unique<ChildProcess>(kKmsBinary,
                                          std::map<std::string, std::string>{{"KMS_DATABASE_URI", db_.uri()},
                                                                             {"KMS_DEV_MODE", "true"},
                                                                             {"KMS_PORT", std::to_string(port_)},
                                                                             {"KMS_BIND_ADDRESS", "127.0.0.1"},
                                                                             {"KMS_TLS_CERT", cert_file},
                                                                             {"KMS_TLS_KEY", key_file}});
    ASSERT_TRUE(kms_->wait_for_output("serving wss://")) << kms_->output();
  }

  void expect_accepted(int version, const std::string& cipher, const char* expected_version) {
    const auto h = handshake(port_, version, cipher);
    EXPECT_TRUE(h.accepted) << cipher << ": " << h.describe();
    EXPECT_EQ(h.version, expected_version) << cipher;
    if (version != TLS1_3_VERSION) {
      EXPECT_EQ(h.cipher, cipher);
    }
  }
  void expect_refused(int version, const std::string& cipher) {
    const auto h = handshake(port_, version, cipher);
    EXPECT_FALSE(h.accepted) << cipher << " was accepted: " << h.describe();
    EXPECT_TRUE(h.refused_by_server()) << cipher << ": " << h.describe();
  }

  TestDatabase db_;
  std::uint16_t port_ = free_port();
  std::unique_ptr<ChildProcess> kms_;
};

TEST_F(KmsTlsPolicyTest, EcdsaCertificateOnlyForwardSecretAeadSuites) {
  const TestCertificate certificate;  // EC P-256
  start_kms(certificate.cert_file(), certificate.key_file());

  expect_accepted(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2");
  expect_accepted(TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2");
  expect_accepted(TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLSv1.2");
  expect_accepted(TLS1_3_VERSION, "DEFAULT", "TLSv1.3");

  expect_refused(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA");     // CBC, SHA-1 MAC
  expect_refused(TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA384");  // CBC
  // OpenSSL 3.0 refuses these two by itself at its default security level (their signatures
  // use SHA-1 and MD5); the policy's minimum of TLS 1.2 keeps it so whatever the level.
  expect_refused(TLS1_1_VERSION, "ECDHE-ECDSA-AES128-SHA");
  expect_refused(TLS1_VERSION, "ECDHE-ECDSA-AES128-SHA");
}

TEST_F(KmsTlsPolicyTest, RsaCertificateNoStaticRsaNoCbc) {
  const RsaCertificate certificate;
  start_kms(certificate.cert_file(), certificate.key_file());

  expect_accepted(TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2");
  expect_accepted(TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", "TLSv1.2");
  expect_accepted(TLS1_3_VERSION, "DEFAULT", "TLSv1.3");

  expect_refused(TLS1_2_VERSION, "AES128-SHA");  // static RSA, CBC, SHA-1
  expect_refused(TLS1_2_VERSION, "AES256-SHA");
  expect_refused(TLS1_2_VERSION, "AES128-GCM-SHA256");          // AEAD, but static RSA: no forward secrecy
  expect_refused(TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA");       // forward secret, but CBC
  expect_refused(TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256");  // finite-field DH (no DH parameters either)
  expect_refused(TLS1_1_VERSION, "ECDHE-RSA-AES128-SHA");
}

TEST_F(KmsTlsPolicyTest, ServerPicksTheSuiteAndRefusesRenegotiation) {
  const TestCertificate certificate;
  start_kms(certificate.cert_file(), certificate.key_file());
  // The client prefers AES-128; the server's list puts AES-256 first.
  const auto preferred =
      handshake(port_, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  EXPECT_EQ(preferred.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384") << preferred.describe();

  // OpenSSL 3.0 servers refuse a client's renegotiation by default too; SSL_OP_NO_RENEGOTIATION
  // keeps it so, and also makes the sidecar's client refuse a server's.
  const auto renegotiation = handshake(port_, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", true);
  ASSERT_TRUE(renegotiation.accepted) << renegotiation.describe();
  EXPECT_FALSE(renegotiation.renegotiated);
  EXPECT_EQ(ERR_GET_REASON(renegotiation.renegotiation_error), SSL_R_NO_RENEGOTIATION);
}

// ---- the sidecar's client ----

// A TLS server on loopback that answers each handshake with `tls12_ciphers` only (TLS 1.2 at
// most) and then closes; it counts handshakes that completed and that failed.
class CbcOnlyServer {
 public:
  CbcOnlyServer(const TestCertificate& certificate, const std::string& tls12_ciphers) {
    context_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_max_proto_version(context_, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(context_, tls12_ciphers.c_str());
    SSL_CTX_use_certificate_chain_file(context_, certificate.cert_file().c_str());
    SSL_CTX_use_PrivateKey_file(context_, certificate.key_file().c_str(), SSL_FILETYPE_PEM);
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listener_, 8);
    thread_ = std::thread([this] { serve(); });
  }
  ~CbcOnlyServer() {
    stop_ = true;
    thread_.join();
    close(listener_);
    SSL_CTX_free(context_);
  }
  std::uint16_t port() const { return port_; }
  int completed() const { return completed_; }
  int failed() const { return failed_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd ready{listener_, POLLIN, 0};
      if (poll(&ready, 1, 100) != 1) continue;  // wakes up to see stop_
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const timeval limit{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      SSL* ssl = SSL_new(context_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        ++completed_;
      } else {
        ++failed_;
      }
      SSL_free(ssl);
      close(fd);
    }
  }

  SSL_CTX* context_ = nullptr;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> completed_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

class SidecarTlsPolicyTest : public SidecarFixture {
 protected:
  // Starts the sidecar against `server` and waits for two connection attempts.
  std::unique_ptr<ChildProcess> start_against(const CbcOnlyServer& server, const TestCertificate& certificate) {
    auto sidecar = start_sidecar({{"SIDE_KMS__URL", "wss://127.0.0.1:" + std::to_string(server.port()) + "/sidecar"},
                                  {"SIDE_KMS__CA_FILE", certificate.cert_file()}});
    // The server's counters offer no event to wait on: poll them, for at most 20 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (server.completed() + server.failed() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_GE(server.completed() + server.failed(), 2) << sidecar->output();
    return sidecar;
  }
};

TEST_F(SidecarTlsPolicyTest, ClientRefusesAServerThatOffersOnlyCbc) {
  const TestCertificate certificate;
  const CbcOnlyServer server(certificate, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256");
  auto sidecar = start_against(server, certificate);
  EXPECT_EQ(server.completed(), 0);
  EXPECT_GE(server.failed(), 2);
  EXPECT_NE(sidecar->output().find("TLS handshake failed"), std::string::npos) << sidecar->output();
}

TEST_F(SidecarTlsPolicyTest, ClientCompletesTheHandshakeWithAnAeadSuite) {
  const TestCertificate certificate;
  const CbcOnlyServer server(certificate, "ECDHE-ECDSA-AES128-GCM-SHA256");
  auto sidecar = start_against(server, certificate);
  EXPECT_GE(server.completed(), 2) << sidecar->output();
  EXPECT_EQ(sidecar->output().find("TLS handshake failed"), std::string::npos) << sidecar->output();
}

}  // namespace
}  // namespace fls::test
