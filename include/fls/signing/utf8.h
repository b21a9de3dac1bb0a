#pragma once
// What the sidecar signs for a payload that is not valid UTF-8.
#include <string>
#include <string_view>

namespace fls {

// Appends `bytes` decoded as UTF-8 the way the WHATWG Encoding Standard (and so Node.js, which
// the original sidecar ran on) does: each maximal invalid subsequence becomes U+FFFD, every
// other byte, NUL included, is kept. The result is always valid UTF-8.
void append_utf8_decoded(std::string& out, std::string_view bytes);

bool is_valid_utf8(std::string_view bytes);

}  // namespace fls
