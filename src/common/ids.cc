#include "fls/common/ids.h"

#include <algorithm>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_generators.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <cctype>

namespace fls {
namespace {

class RandomIdSource final : public IdSource {
 public:
  // A generator per call: it reads the OS random source and holds no state worth sharing,
  // which keeps this safe to call from any thread.
  std::string next_uuid() override { return boost::uuids::to_string(boost::uuids::random_generator()()); }
};

}  // namespace

std::unique_ptr<IdSource> make_random_id_source() { return std::make_unique<RandomIdSource>(); }

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string lower_uuid(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace fls
