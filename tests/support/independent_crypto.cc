#include "independent_crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <memory>
#include <stdexcept>

namespace fls::test {
namespace {

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::array<std::uint8_t, 16> aes_block(const Bytes& key, const std::array<std::uint8_t, 16>& in) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx(EVP_CIPHER_CTX_new());
  std::array<std::uint8_t, 16> out{};
  int length = 0;
  if (!EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ecb(), nullptr, key.data(), nullptr) ||
      !EVP_CIPHER_CTX_set_padding(ctx.get(), 0) || !EVP_EncryptUpdate(ctx.get(), out.data(), &length, in.data(), 16) ||
      length != 16) {
    throw std::runtime_error("AES-ECB failed");
  }
  return out;
}

// RFC 4493 §2.3: shift left by one bit, xor Rb if the top bit fell off.
std::array<std::uint8_t, 16> double_block(const std::array<std::uint8_t, 16>& in) {
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 16; ++i) {
    out[i] = static_cast<std::uint8_t>((in[i] << 1) | (i < 15 ? in[i + 1] >> 7 : 0));
  }
  if (in[0] & 0x80) out[15] ^= 0x87;
  return out;
}

}  // namespace

Bytes random_bytes(std::size_t size) {
  Bytes out(size);
  if (RAND_bytes(out.data(), static_cast<int>(size)) != 1) throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string hex(const Bytes& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

Bytes unhex(std::string_view text) {
  auto value = [](char c) -> int {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("not hex");
  };
  if (text.size() % 2 != 0) throw std::invalid_argument("odd hex length");
  Bytes out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(value(text[i]) << 4 | value(text[i + 1])));
  }
  return out;
}

Bytes rfc4493_cmac(const Bytes& key, std::string_view message) {
  const auto k1 = double_block(aes_block(key, {}));
  const auto k2 = double_block(k1);
  const std::size_t n = message.empty() ? 1 : (message.size() + 15) / 16;
  const bool complete = !message.empty() && message.size() % 16 == 0;
  std::array<std::uint8_t, 16> x{};
  for (std::size_t block = 0; block < n; ++block) {
    std::array<std::uint8_t, 16> m{};
    const std::size_t start = block * 16;
    const std::size_t length = std::min<std::size_t>(16, message.size() - std::min(start, message.size()));
    for (std::size_t i = 0; i < length; ++i) m[i] = static_cast<std::uint8_t>(message[start + i]);
    if (block == n - 1) {
      if (!complete) m[length] = 0x80;
      const auto& subkey = complete ? k1 : k2;
      for (int i = 0; i < 16; ++i) m[i] ^= subkey[i];
    }
    for (int i = 0; i < 16; ++i) x[i] ^= m[i];
    x = aes_block(key, x);
  }
  return Bytes(x.begin(), x.end());
}

Bytes Ed25519Pair::secret_key() const {
  Bytes out = seed;
  out.insert(out.end(), public_key.begin(), public_key.end());
  return out;
}

Ed25519Pair ed25519_from_seed(const Bytes& seed) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  Ed25519Pair pair{seed, Bytes(32)};
  std::size_t size = 32;
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), pair.public_key.data(), &size) != 1) {
    throw std::runtime_error("ed25519 key generation failed");
  }
  return pair;
}

bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  std::unique_ptr<EVP_MD_CTX, MdDeleter> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

Bytes ed25519_sign(const Bytes& seed, std::string_view message) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  std::unique_ptr<EVP_MD_CTX, MdDeleter> ctx(EVP_MD_CTX_new());
  Bytes signature(64);
  std::size_t size = signature.size();
  if (!key || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    throw std::runtime_error("OpenSSL could not sign with ed25519");
  }
  return signature;
}

}  // namespace fls::test
