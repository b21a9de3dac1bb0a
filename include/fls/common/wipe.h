#pragma once
// Overwriting memory that held key material in transit (the hex keys of a registration reply,
// the text and buffers it arrived in) once it has been used.
#include <sodium.h>

#include <cstddef>
#include <memory>
#include <string>

namespace fls {

// Zeroes every character `text` has room for, not only its current ones, and empties it.
inline void wipe(std::string& text) {
  text.resize(text.capacity());
  sodium_memzero(text.data(), text.size());
  text.clear();
}

// Wipes a string when the scope ends, however it ends.
class WipedOnExit {
 public:
  explicit WipedOnExit(std::string& text) : text_(text) {}
  ~WipedOnExit() { wipe(text_); }
  WipedOnExit(const WipedOnExit&) = delete;
  WipedOnExit& operator=(const WipedOnExit&) = delete;

 private:
  std::string& text_;
};

// While one is alive on a thread, heap blocks that thread frees with operator delete are zeroed
// before they are freed, in an executable linked with the replacement allocation functions of
// src/sidecar/wiping_new_delete.cc (the sidecar is); elsewhere it changes nothing. It is for
// code whose temporaries are out of reach: the JSON parser copies every string it reads into
// token buffers of its own and frees them unwiped, so a parsed registration reply would leave the
// keys' hex in freed memory.
class WipeFreedMemory {
 public:
  WipeFreedMemory() noexcept;
  ~WipeFreedMemory();
  WipeFreedMemory(const WipeFreedMemory&) = delete;
  WipeFreedMemory& operator=(const WipeFreedMemory&) = delete;
};
// Whether a WipeFreedMemory is alive on this thread.
bool freed_memory_is_wiped() noexcept;

// std::allocator, except that storage is zeroed before it is given back: for buffers that may
// hold key material and grow (a grown buffer's old storage is released, not reused).
template <class T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <class U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    sodium_memzero(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const WipingAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace fls
