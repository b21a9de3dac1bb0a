#include "fls/common/wipe.h"

namespace fls {

namespace {
thread_local int t_wiping_scopes = 0;
}  // namespace

WipeFreedMemory::WipeFreedMemory() noexcept { ++t_wiping_scopes; }
WipeFreedMemory::~WipeFreedMemory() { --t_wiping_scopes; }
bool freed_memory_is_wiped() noexcept { return t_wiping_scopes > 0; }

}  // namespace fls
