#pragma once
// Random UUID v4 strings (lower case), behind an interface so tests can predict them.
#include <memory>
#include <string>
#include <string_view>

namespace fls {

class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string next_uuid() = 0;
};

// Thread-safe; draws from the operating system's random source.
std::unique_ptr<IdSource> make_random_id_source();

// True for the canonical 8-4-4-4-12 hexadecimal form, either case.
bool is_uuid(std::string_view text);

// The canonical lower-case form of a UUID text; the input must satisfy is_uuid().
std::string lower_uuid(std::string_view text);

}  // namespace fls
