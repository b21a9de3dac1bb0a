#pragma once
// OpenSSL keeps what it derives from a key in memory it allocates itself: an AES-256-CMAC
// context holds the AES key schedule, whose first two round keys are the key itself. These
// functions route the allocations OpenSSL makes on a thread while an OpenSslKeyMemoryScope is
// open there into arenas from sodium_malloc (locked against swap where RLIMIT_MEMLOCK allows it,
// excluded from core dumps, between guard pages); a block is zeroed when OpenSSL frees it.
// Every other OpenSSL allocation goes to malloc as before.
#include <cstddef>

namespace fls {

// Installs OpenSSL's allocation functions. OpenSSL accepts them only before its first
// allocation in the process, so this is the first thing main does; false if it was too late
// (scopes then change nothing). Safe to call more than once.
bool install_openssl_key_memory();
bool openssl_key_memory_installed();

// While one is alive on a thread, OpenSSL's allocations on that thread come from the arenas.
// Open it around the calls that give OpenSSL a key, and nothing else: the arenas (8 KiB, each
// new one twice the last, up to 32 of them, about 26 MiB) are never returned to the system;
// past them, allocations go to malloc again, with a warning.
class OpenSslKeyMemoryScope {
 public:
  OpenSslKeyMemoryScope();
  ~OpenSslKeyMemoryScope();
  OpenSslKeyMemoryScope(const OpenSslKeyMemoryScope&) = delete;
  OpenSslKeyMemoryScope& operator=(const OpenSslKeyMemoryScope&) = delete;
};

// Bytes of OpenSSL's blocks held in the arenas now, and whether `p` points into an arena.
std::size_t openssl_key_memory_in_use();
bool in_openssl_key_memory(const void* p);

}  // namespace fls
