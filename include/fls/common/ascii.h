#pragma once
// Case folding of protocol text (method names, hex, UUIDs): ASCII only, whatever the process's
// locale, so that the same bytes always compare the same way.
#include <locale>
#include <string>
#include <string_view>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>

namespace fls {

inline std::string ascii_lower(std::string_view text) {
  return boost::algorithm::to_lower_copy(std::string(text), std::locale::classic());
}

inline bool ascii_iequals(std::string_view a, std::string_view b) {
  return boost::algorithm::iequals(a, b, std::locale::classic());
}

}  // namespace fls
