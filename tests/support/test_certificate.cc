#include "test_certificate.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace fls::test {

TestCertificate::TestCertificate() {
  char dir[] = "/tmp/fls-cert-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  cert_file_ = dir_ + "/cert.pem";
  key_file_ = dir_ + "/key.pem";

  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fls test KMS"), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  const bool signed_ok = X509_sign(cert, key, EVP_sha256()) > 0;
  FILE* cert_out = std::fopen(cert_file_.c_str(), "w");
  FILE* key_out = std::fopen(key_file_.c_str(), "w");
  const bool written = cert_out && key_out && PEM_write_X509(cert_out, cert) &&
                       PEM_write_PrivateKey(key_out, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert_out) std::fclose(cert_out);
  if (key_out) std::fclose(key_out);
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!signed_ok || !written) throw std::runtime_error("could not make a test certificate");
}

TestCertificate::~TestCertificate() {
  unlink(cert_file_.c_str());
  unlink(key_file_.c_str());
  rmdir(dir_.c_str());
}

}  // namespace fls::test
