#pragma once
// A self-signed server certificate for 127.0.0.1, written to PEM files for a test's lifetime.
#include <string>

namespace fls::test {

class TestCertificate {
 public:
  TestCertificate();   // EC P-256 key, subjectAltName IP:127.0.0.1 and DNS:localhost
  ~TestCertificate();  // removes the files
  const std::string& cert_file() const { return cert_file_; }  // also the CA file that trusts it
  const std::string& key_file() const { return key_file_; }

 private:
  std::string dir_;
  std::string cert_file_;
  std::string key_file_;
};

}  // namespace fls::test
