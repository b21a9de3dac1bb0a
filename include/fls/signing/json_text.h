#pragma once
// JSON string literals exactly as JavaScript's JSON.stringify writes them, because the KMS
// verifies signatures over the bytes the original Node.js sidecar produced.
#include <string>
#include <string_view>

namespace fls {

// Appends `utf8` (which must be valid UTF-8) as a quoted JSON string: escapes `"`, `\` and
// the control characters below 0x20 (\b \t \n \f \r, otherwise \u00xx in lower-case hex);
// everything else, `/`, DEL and non-ASCII included, is copied as it is.
void append_json_string(std::string& out, std::string_view utf8);

}  // namespace fls
