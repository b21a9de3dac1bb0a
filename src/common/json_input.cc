#include "fls/common/json_input.h"

namespace fls {

std::size_t json_nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    switch (text[pos]) {
      case '"':
        // Past the closing quote; an escape hides the character after the backslash.
        for (++pos; pos < text.size() && text[pos] != '"'; ++pos) {
          if (text[pos] == '\\') ++pos;
        }
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return limit + 1;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

}  // namespace fls
