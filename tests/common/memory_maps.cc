#include "memory_maps.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fls::test {

namespace {

// Reads memory that is not this code's own (freed heap blocks, a sanitizer's redzones among it),
// so a sanitizer must not check the reads, as it would memmem's.
__attribute__((no_sanitize("address", "undefined"))) bool contains(const unsigned char* haystack, std::size_t size,
                                                                   const unsigned char* needle, std::size_t n) {
  for (std::size_t i = 0; n != 0 && i + n <= size; ++i) {
    std::size_t j = 0;
    while (j < n && haystack[i + j] == needle[j]) ++j;
    if (j == n) return true;
  }
  return false;
}

}  // namespace

bool Mapping::has_flag(const std::string& flag) const {
  std::istringstream flags(vm_flags);
  for (std::string f; flags >> f;) {
    if (f == flag) return true;
  }
  return false;
}

bool Mapping::holds(const void* address) const {
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  return a >= begin && a < end;
}

std::vector<Mapping> memory_mappings() {
  std::vector<Mapping> out;
  std::ifstream in("/proc/self/smaps");
  for (std::string line; std::getline(in, line);) {
    unsigned long begin = 0, end = 0;
    char permissions[8] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &begin, &end, permissions) == 3) {
      out.push_back(Mapping{begin, end, permissions, "", 0});
    } else if (!out.empty() && line.rfind("VmFlags:", 0) == 0) {
      out.back().vm_flags = line.substr(std::strlen("VmFlags:"));
    } else if (!out.empty() && line.rfind("Locked:", 0) == 0) {
      out.back().locked_kb = std::atol(line.c_str() + std::strlen("Locked:"));
    }
  }
  return out;
}

Mapping mapping_of(const void* address) {
  for (const auto& m : memory_mappings()) {
    if (m.holds(address)) return m;
  }
  return {};
}

bool in_dumpable_memory(const void* bytes, std::size_t size) {
  for (const auto& m : memory_mappings()) {
    // [vvar] and the like are not "rw"; guard pages are "---".
    if (m.permissions.compare(0, 2, "rw") != 0 || m.has_flag("dd")) continue;
    if (m.end - m.begin > (std::uintptr_t{1} << 30)) continue;  // a sanitizer's shadow reservation
    if (contains(reinterpret_cast<const unsigned char*>(m.begin), m.end - m.begin,
                 static_cast<const unsigned char*>(bytes), size)) {
      return true;
    }
  }
  return false;
}

}  // namespace fls::test
