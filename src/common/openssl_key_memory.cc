#include "fls/common/openssl_key_memory.h"

#include <openssl/crypto.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace fls {

namespace {

// An arena is one sodium_malloc'd region cut into blocks, each a Header and its payload,
// laid end to end; free neighbours are merged when an allocation walks past them. Arenas are
// never unmapped, so a pointer's owner is found by comparing it with their bounds, without a
// lock: the bounds are written once, before the arena is counted.
struct Header {
  std::size_t size;  // payload bytes, a multiple of kAlign
  std::size_t used;  // 0 or 1; a whole word keeps the payload aligned
};
constexpr std::size_t kAlign = 16;  // what malloc guarantees on x86-64 and aarch64
static_assert(sizeof(Header) == kAlign);
constexpr std::size_t kSodiumCanary = 16;  // sodium_malloc's canary before the region
constexpr std::size_t kMaxArenas = 32;
constexpr std::size_t kFirstArenaPages = 2;  // an AES-256-CMAC context takes about 0.9 KiB
constexpr std::size_t kMaxArenaPages = 256;

struct Bounds {
  unsigned char* begin;
  unsigned char* end;
};

std::mutex g_mutex;           // guards the blocks and arena creation
Bounds g_arenas[kMaxArenas];  // written under g_mutex before g_arena_count
std::atomic<std::size_t> g_arena_count{0};
std::atomic<std::size_t> g_in_use{0};
std::atomic<bool> g_installed{false};
thread_local int t_scope_depth = 0;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

Header* header_of(void* payload) {
  return reinterpret_cast<Header*>(static_cast<unsigned char*>(payload) - sizeof(Header));
}
unsigned char* payload_of(Header* h) { return reinterpret_cast<unsigned char*>(h) + sizeof(Header); }
Header* next_of(Header* h) { return reinterpret_cast<Header*>(payload_of(h) + h->size); }

bool owned(const void* p) {
  const auto* byte = static_cast<const unsigned char*>(p);
  const std::size_t n = g_arena_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (byte >= g_arenas[i].begin && byte < g_arenas[i].end) return true;
  }
  return false;
}

// First fit in one arena. Called with g_mutex held.
void* take_from(const Bounds& arena, std::size_t size) {
  for (auto* h = reinterpret_cast<Header*>(arena.begin); reinterpret_cast<unsigned char*>(h) < arena.end;
       h = next_of(h)) {
    if (h->used) continue;
    for (Header* next = next_of(h); reinterpret_cast<unsigned char*>(next) < arena.end && !next->used;
         next = next_of(h)) {
      h->size += sizeof(Header) + next->size;
    }
    if (h->size < size) continue;
    if (h->size >= size + sizeof(Header) + kAlign) {  // split off the rest as a free block
      auto* rest = reinterpret_cast<Header*>(payload_of(h) + size);
      rest->size = h->size - size - sizeof(Header);
      rest->used = 0;
      h->size = size;
    }
    h->used = 1;
    g_in_use.fetch_add(h->size, std::memory_order_relaxed);
    return payload_of(h);
  }
  return nullptr;
}

// Called with g_mutex held. nullptr when no arena can be added.
const Bounds* add_arena(std::size_t size) {
  const std::size_t count = g_arena_count.load(std::memory_order_relaxed);
  if (count == kMaxArenas) return nullptr;
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  // Each arena doubles the last, so a handful cover any realistic number of live keys.
  const std::size_t pages = std::max(std::min(kFirstArenaPages << count, kMaxArenaPages),
                                     round_up(size + sizeof(Header) + kSodiumCanary, page) / page);
  // A whole number of pages less the canary: the region starts right after it, aligned.
  const std::size_t bytes = pages * page - kSodiumCanary;
  auto* region = static_cast<unsigned char*>(sodium_malloc(bytes));
  if (region == nullptr || reinterpret_cast<std::uintptr_t>(region) % kAlign != 0) {
    if (region != nullptr) sodium_free(region);
    return nullptr;
  }
  auto* first = reinterpret_cast<Header*>(region);
  first->size = bytes - sizeof(Header);  // bytes is a multiple of kAlign, as a page is
  first->used = 0;
  g_arenas[count] = Bounds{region, region + sizeof(Header) + first->size};
  g_arena_count.store(count + 1, std::memory_order_release);
  return &g_arenas[count];
}

void* locked_alloc(std::size_t num) {
  const std::size_t size = round_up(std::max<std::size_t>(num, 1), kAlign);
  std::lock_guard lock(g_mutex);
  const std::size_t count = g_arena_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < count; ++i) {
    if (void* p = take_from(g_arenas[i], size)) return p;
  }
  const Bounds* arena = add_arena(size);
  return arena == nullptr ? nullptr : take_from(*arena, size);
}

void locked_free(void* p) {
  std::lock_guard lock(g_mutex);
  Header* h = header_of(p);
  sodium_memzero(p, h->size);
  h->used = 0;
  g_in_use.fetch_sub(h->size, std::memory_order_relaxed);
}

// The functions OpenSSL calls for OPENSSL_malloc, OPENSSL_realloc and OPENSSL_free, with the
// same contract as its defaults (a zero-byte request gives nullptr).
void* on_malloc(std::size_t num, const char*, int) {
  if (num == 0) return nullptr;
  if (t_scope_depth > 0) {
    if (void* p = locked_alloc(num)) return p;
    // No arena could be had: ordinary memory is better than failing OpenSSL.
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      spdlog::warn(
          "no locked memory left for OpenSSL's key contexts ({} arenas in use); further ones are in "
          "ordinary heap memory",
          g_arena_count.load());
    }
  }
  return std::malloc(num);
}

void on_free(void* p, const char*, int) {
  if (p == nullptr) return;
  if (owned(p)) {
    locked_free(p);
  } else {
    std::free(p);
  }
}

void* on_realloc(void* p, std::size_t num, const char* file, int line) {
  if (p == nullptr) return on_malloc(num, file, line);
  if (num == 0) {
    on_free(p, file, line);
    return nullptr;
  }
  if (!owned(p)) return std::realloc(p, num);  // a block stays where it started
  const std::size_t old_size = header_of(p)->size;
  if (num <= old_size) return p;
  void* grown = nullptr;
  {
    ++t_scope_depth;  // a locked block stays locked when it grows
    grown = on_malloc(num, file, line);
    --t_scope_depth;
  }
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, p, old_size);
  locked_free(p);
  return grown;
}

}  // namespace

bool install_openssl_key_memory() {
  static const bool installed = [] {
    if (sodium_init() < 0) return false;
    return CRYPTO_set_mem_functions(on_malloc, on_realloc, on_free) == 1;
  }();
  g_installed.store(installed, std::memory_order_relaxed);
  return installed;
}

bool openssl_key_memory_installed() { return g_installed.load(std::memory_order_relaxed); }

OpenSslKeyMemoryScope::OpenSslKeyMemoryScope() { ++t_scope_depth; }
OpenSslKeyMemoryScope::~OpenSslKeyMemoryScope() { --t_scope_depth; }

std::size_t openssl_key_memory_in_use() { return g_in_use.load(std::memory_order_relaxed); }
bool in_openssl_key_memory(const void* p) { return owned(p); }

}  // namespace fls
