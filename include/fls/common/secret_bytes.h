#pragma once
// Key material: held in locked memory where the OS allows it, wiped on destruction, never
// copyable by accident and never printable.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fls {

class SecretBytes {
 public:
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
