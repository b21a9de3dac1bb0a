#include "fls/common/ids.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_generators.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <cctype>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "fls/common/ascii.h"

namespace fls {
namespace {

// The operating system's CSPRNG (through libsodium), drawn 4 KiB at a time: the writer makes
// a UUID per event, and one system call per 256 of them instead of one each is measurable.
class BufferedSystemRandom {
 public:
  using result_type = std::uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    if (next_ == pool_.size()) {
      randombytes_buf(pool_.data(), sizeof pool_);
      next_ = 0;
    }
    return pool_[next_++];
  }

 private:
  std::array<result_type, 1024> pool_{};
  std::size_t next_ = pool_.size();
};

class RandomIdSource final : public IdSource {
 public:
  std::string next_uuid() override {
    std::lock_guard lock(mutex_);
    return boost::uuids::to_string(generator_());
  }

 private:
  std::mutex mutex_;
  BufferedSystemRandom random_;
  boost::uuids::basic_random_generator<BufferedSystemRandom> generator_{&random_};
};

}  // namespace

std::unique_ptr<IdSource> make_random_id_source() {
  // Makes libsodium's random source safe to use from any thread.
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  return std::make_unique<RandomIdSource>();
}

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

std::string lower_uuid(std::string_view text) { return ascii_lower(text); }

}  // namespace fls
