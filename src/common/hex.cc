#include "fls/common/hex.h"

#include <sodium.h>

namespace fls {

std::string to_hex(const std::uint8_t* bytes, std::size_t size) {
  std::string out(2 * size + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, size);
  out.pop_back();
  return out;
}

}  // namespace fls
