// SecretBytes: pages of its own from sodium_malloc, between guard pages, locked against swap
// and left out of core dumps; zero at first; unmapped when released (so nothing of the key is
// left to read); a move hands the same pages over.
#include "fls/common/secret_bytes.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "memory_maps.h"

namespace fls {
namespace {

using test::mapping_of;

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// Whether this process can lock a page at all (RLIMIT_MEMLOCK, CAP_IPC_LOCK; AddressSanitizer
// turns mlock into a no-op that succeeds).
bool mlock_allowed(std::string& why_not) {
  void* page = mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return false;
  bool ok = mlock(page, page_size()) == 0;
  if (!ok) {
    why_not = std::strerror(errno);
  } else if (!mapping_of(page).has_flag("lo")) {
    ok = false;
    why_not = "mlock succeeded without locking the page";
  }
  munmap(page, page_size());
  return ok;
}

void fill(SecretBytes& s, std::uint8_t value) { std::memset(s.data(), value, s.size()); }

TEST(SecretBytes, StartsAsZeros) {
  const SecretBytes s(64);
  ASSERT_EQ(s.size(), 64u);
  for (std::size_t i = 0; i < s.size(); ++i) ASSERT_EQ(s.data()[i], 0) << i;
}

TEST(SecretBytes, LivesBetweenGuardPagesInPagesLeftOutOfCoreDumps) {
  SecretBytes s(32);
  fill(s, 0x5a);
  const auto m = mapping_of(s.data());
  ASSERT_NE(m.end, 0u) << "no mapping holds the key";
  EXPECT_EQ(m.permissions, "rw-p");
  EXPECT_TRUE(m.has_flag("dd")) << "VmFlags:" << m.vm_flags;
  // The key ends where its pages end, and an inaccessible page follows it and precedes them.
  EXPECT_EQ(address(s.data() + s.size()), m.end);
  EXPECT_EQ(m.end % page_size(), 0u);
  EXPECT_EQ(mapping_of(reinterpret_cast<const void*>(m.end)).permissions, "---p");
  EXPECT_EQ(mapping_of(reinterpret_cast<const void*>(m.begin - 1)).permissions, "---p");
  // Nothing else shares the pages: another value has pages of its own.
  const SecretBytes other(32);
  EXPECT_FALSE(m.holds(other.data()));

  std::string why_not;
  if (!mlock_allowed(why_not))
    GTEST_SKIP() << "this process cannot lock pages (" << why_not << "): locking not checked";
  EXPECT_TRUE(m.has_flag("lo")) << "VmFlags:" << m.vm_flags;
  EXPECT_GT(m.locked_kb, 0);
}

TEST(SecretBytes, LargeValuesSpanPagesOfTheirOwn) {
  SecretBytes s(3 * page_size() + 100);
  fill(s, 0x11);
  const auto m = mapping_of(s.data());
  EXPECT_TRUE(m.holds(s.data() + s.size() - 1));
  EXPECT_TRUE(m.has_flag("dd"));
  EXPECT_EQ(address(s.data() + s.size()), m.end);
}

TEST(SecretBytes, ReleasedPagesAreUnmapped) {
  const void* was = nullptr;
  {
    SecretBytes s(32);
    fill(s, 0x77);
    was = s.data();
    ASSERT_NE(mapping_of(was).end, 0u);
  }
  // sodium_free wipes, unlocks and unmaps: there is nothing left at that address to read.
  EXPECT_EQ(mapping_of(was).end, 0u);
}

TEST(SecretBytes, MoveHandsOverThePagesAndReleasesTheReplacedOnes) {
  SecretBytes a(32);
  fill(a, 0x42);
  const std::uint8_t* pages = a.data();
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.data(), pages);
  EXPECT_EQ(b.size(), 32u);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data()[31], 0x42);

  SecretBytes c(16);
  fill(c, 0x24);
  const void* replaced = c.data();
  c = std::move(b);
  EXPECT_EQ(c.data(), pages);
  EXPECT_EQ(c.size(), 32u);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(mapping_of(replaced).end, 0u) << "the replaced value's pages are still mapped";
}

TEST(SecretBytes, EmptyValueMapsNothing) {
  const SecretBytes empty(0);
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);
  const auto decoded = SecretBytes::from_hex("", 0);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size(), 0u);
}

}  // namespace
}  // namespace fls
