#pragma once
// This process's memory mappings as /proc/self/smaps describes them, for the tests of where
// key material lives.
#include <cstdint>
#include <string>
#include <vector>

namespace fls::test {

struct Mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  std::string permissions;  // e.g. "rw-p", "---p"
  std::string vm_flags;     // e.g. "rd wr mr mw me dd lo ac sd"
  long locked_kb = 0;       // the "Locked:" line

  bool has_flag(const std::string& flag) const;
  bool holds(const void* address) const;
};

std::vector<Mapping> memory_mappings();
// The mapping that holds `address`; begin == end == 0 if none does.
Mapping mapping_of(const void* address);

// Whether `bytes` (size `size`) occur in a readable, writable mapping that core dumps include
// (no "dd" flag): the heap, stacks, anonymous memory. The caller's own copy must live elsewhere.
bool in_dumpable_memory(const void* bytes, std::size_t size);

}  // namespace fls::test
