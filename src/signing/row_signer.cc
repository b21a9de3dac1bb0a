#include "fls/signing/row_signer.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <stdexcept>

#include "fls/common/openssl_key_memory.h"

namespace fls {

struct RowSigner::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  ~Impl() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

RowSigner::RowSigner(const SecretBytes& key) : impl_(std::make_unique<Impl>()) {
  if (key.size() != kKeySize) throw std::invalid_argument("row key must be 32 bytes");
  char cipher[] = "AES-256-CBC";
  // Fetched first, outside the scope below: OpenSSL caches the algorithms for the process, and
  // the locked arenas should hold only what belongs to this key.
  impl_->mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  EVP_CIPHER_free(EVP_CIPHER_fetch(nullptr, cipher, nullptr));
  {
    // The context holds the AES key schedule (its first round keys are the key itself) and the
    // CMAC subkeys: OpenSSL allocates them in locked memory that core dumps leave out.
    const OpenSslKeyMemoryScope locked;
    if (impl_->mac != nullptr) impl_->ctx = EVP_MAC_CTX_new(impl_->mac);
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
                                 OSSL_PARAM_construct_end()};
    if (impl_->ctx == nullptr || EVP_MAC_init(impl_->ctx, key.data(), key.size(), params) != 1) {
      throw std::runtime_error("OpenSSL could not set up AES-256-CMAC");
    }
  }
}

RowSigner::~RowSigner() = default;
RowSigner::RowSigner(RowSigner&&) noexcept = default;
RowSigner& RowSigner::operator=(RowSigner&&) noexcept = default;

std::string RowSigner::sign_hex(std::string_view message) {
  std::string out;
  sign_hex_into(message, out);
  return out;
}

void RowSigner::sign_hex_into(std::string_view message, std::string& out) {
  unsigned char tag[16];
  std::size_t tag_size = 0;
  // A NULL key restarts the MAC with the key already set, skipping the key schedule.
  if (EVP_MAC_init(impl_->ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(impl_->ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      EVP_MAC_final(impl_->ctx, tag, &tag_size, sizeof tag) != 1 || tag_size != sizeof tag) {
    throw std::runtime_error("OpenSSL AES-256-CMAC failed");
  }
  out.resize(2 * sizeof tag + 1);
  sodium_bin2hex(out.data(), out.size(), tag, sizeof tag);
  out.resize(2 * sizeof tag);
}

}  // namespace fls
