#pragma once
// Key material: held in pages of its own from libsodium's sodium_malloc (guard pages on both
// sides, locked against swap where RLIMIT_MEMLOCK allows it, excluded from core dumps), wiped
// when released, never copyable by accident and never printable.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fls {

class SecretBytes {
 public:
  // `size` zero bytes. Each non-empty value costs whole pages (one page per 4 KiB of key, plus
  // a page of libsodium's bookkeeping and two guard pages that are never resident). Throws
  // std::bad_alloc if the pages cannot be mapped. An empty value maps nothing (data() is null).
  explicit SecretBytes(std::size_t size);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Decodes hexadecimal text (either case). nullopt unless it is exactly `size` bytes.
  static std::optional<SecretBytes> from_hex(std::string_view hex, std::size_t size);

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fls
