#include "fls/signing/utf8.h"

#include <cstdint>
#include <cstring>

namespace fls {
namespace {

// Skips ASCII eight bytes at a time: most messages are ASCII JSON, and large ones are common.
std::size_t skip_ascii(std::string_view s, std::size_t i) {
  for (std::uint64_t word; i + 8 <= s.size(); i += 8) {
    std::memcpy(&word, s.data() + i, 8);
    if ((word & 0x8080808080808080ULL) != 0) break;
  }
  return i;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence starting at `i`, or 0 when the bytes there are not one;
// `invalid_length` then says how many bytes the maximal invalid subpart spans (at least 1).
std::size_t valid_sequence_at(std::string_view s, std::size_t i, std::size_t& invalid_length) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t lead = byte(i);
  invalid_length = 1;
  if (lead < 0x80) return 1;
  std::size_t needed;
  std::uint8_t lower = 0x80, upper = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 2;
    if (lead == 0xE0) lower = 0xA0;
    if (lead == 0xED) upper = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 3;
    if (lead == 0xF0) lower = 0x90;
    if (lead == 0xF4) upper = 0x8F;
  } else {
    return 0;
  }
  for (std::size_t k = 1; k <= needed; ++k) {
    if (i + k >= s.size() || byte(i + k) < lower || byte(i + k) > upper) {
      invalid_length = k;
      return 0;
    }
    lower = 0x80;
    upper = 0xBF;
  }
  return needed + 1;
}

}  // namespace

void append_utf8_decoded(std::string& out, std::string_view bytes) {
  std::size_t i = 0;
  std::size_t run_start = 0;  // start of the valid bytes not yet copied
  while (i < bytes.size()) {
    std::size_t invalid_length;
    if (const std::size_t n = valid_sequence_at(bytes, i, invalid_length); n != 0) {
      i += n;
      continue;
    }
    out.append(bytes.data() + run_start, i - run_start);
    out.append(kReplacement);
    i += invalid_length;
    run_start = i;
  }
  out.append(bytes.data() + run_start, bytes.size() - run_start);
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t i = 0;
  while ((i = skip_ascii(bytes, i)) < bytes.size()) {
    std::size_t invalid_length;
    const std::size_t n = valid_sequence_at(bytes, i, invalid_length);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace fls
