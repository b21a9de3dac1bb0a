#include "fls/common/secret_bytes.h"

#include <sodium.h>

#include <new>

namespace fls {

SecretBytes::SecretBytes(std::size_t size) : data_(new std::uint8_t[size]()), size_(size) {
  // Best effort: keeps keys out of swap where RLIMIT_MEMLOCK allows it.
  sodium_mlock(data_, size_);
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
  sodium_munlock(data_, size_);  // also wipes the bytes
  delete[] data_;
  data_ = nullptr;
  size_ = 0;
}

std::optional<SecretBytes> SecretBytes::from_hex(std::string_view hex, std::size_t size) {
  if (hex.size() != size * 2) return std::nullopt;
  SecretBytes out(size);
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &decoded, &end) != 0 ||
      decoded != size || end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace fls
