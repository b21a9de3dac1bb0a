#include "fls/common/secret_bytes.h"

#include <sodium.h>

#include <new>
#include <stdexcept>

namespace fls {

namespace {

void ensure_sodium() {
  // sodium_malloc needs the page size that sodium_init reads.
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium could not be initialised");
}

}  // namespace

SecretBytes::SecretBytes(std::size_t size) {
  if (size == 0) return;
  ensure_sodium();
  // Guard pages before and after, mlock and MADV_DONTDUMP on the pages between (a refused
  // mlock is not an error for sodium_malloc: the pages are then only kept out of core dumps).
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
  size_ = size;
  sodium_memzero(data_, size_);  // sodium_malloc fills with 0xdb; callers expect zeros
}

SecretBytes::~SecretBytes() { release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void SecretBytes::release() {
  if (data_ == nullptr) return;
  sodium_free(data_);  // wipes the bytes, unlocks and unmaps the pages
  data_ = nullptr;
  size_ = 0;
}

std::optional<SecretBytes> SecretBytes::from_hex(std::string_view hex, std::size_t size) {
  if (hex.size() != size * 2) return std::nullopt;
  SecretBytes out(size);
  if (size == 0) return out;  // nothing to decode into (data() is null)
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &decoded, &end) != 0 || decoded != size ||
      end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace fls
