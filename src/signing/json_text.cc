#include "fls/signing/json_text.h"

#include <cstdint>
#include <cstring>

namespace fls {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// True if any of the eight bytes needs escaping: below 0x20, '"' or '\\' (the usual
// SWAR tests for a zero byte and for a byte below n, exact when used as "any").
bool needs_escape(std::uint64_t word) {
  const auto has_zero = [](std::uint64_t v) { return ((v - kOnes) & ~v & kHighBits) != 0; };
  const bool below_space = ((word - kOnes * 0x20) & ~word & kHighBits) != 0;
  return below_space || has_zero(word ^ (kOnes * '"')) || has_zero(word ^ (kOnes * '\\'));
}

}  // namespace

void append_json_string(std::string& out, std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    // Eight bytes at a time while none of them needs escaping, which is nearly always.
    for (std::uint64_t word; i + 8 <= utf8.size(); i += 8) {
      std::memcpy(&word, utf8.data() + i, 8);
      if (needs_escape(word)) break;
    }
    if (i == utf8.size()) break;
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(utf8.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\r':
        out.append("\\r");
        break;
      default: {
        const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escape, sizeof escape);
      }
    }
  }
  out.append(utf8.data() + run_start, utf8.size() - run_start);
  out.push_back('"');
}

}  // namespace fls
