#pragma once
// `text` written `times` times over, for expected strings in tests.
#include <string>
#include <string_view>

namespace fls::test {

inline std::string repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

}  // namespace fls::test
