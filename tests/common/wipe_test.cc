// Wiping strings that held key material, and the per-thread "wipe freed memory" scope.
#include "fls/common/wipe.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace fls {
namespace {

bool all_zero(const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

TEST(Wipe, ZeroesTheWholeCapacityAndEmpties) {
  std::string key(200, 'k');
  key.resize(10);  // the other 190 characters still sit in the buffer
  const char* buffer = key.data();
  const std::size_t capacity = key.capacity();
  wipe(key);
  EXPECT_TRUE(key.empty());
  EXPECT_EQ(key.data(), buffer) << "wipe reallocated instead of overwriting";
  EXPECT_TRUE(all_zero(buffer, capacity));
}

TEST(Wipe, ShortStringsInPlace) {
  std::string key = "abc";
  const char* buffer = key.data();
  wipe(key);
  EXPECT_TRUE(key.empty());
  EXPECT_TRUE(all_zero(buffer, 3));
}

TEST(WipedOnExit, WipesWhenTheScopeEndsAndOnAnException) {
  std::string key(100, 'x');
  const char* buffer = key.data();
  {
    const WipedOnExit wiped(key);
    EXPECT_EQ(key.size(), 100u);
  }
  EXPECT_TRUE(key.empty());
  EXPECT_TRUE(all_zero(buffer, 100));

  std::string other(100, 'y');
  const char* other_buffer = other.data();
  try {
    const WipedOnExit wiped(other);
    throw std::runtime_error("leaving");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(other.empty());
  EXPECT_TRUE(all_zero(other_buffer, 100));
}

TEST(WipeFreedMemory, NestsAndIsPerThread) {
  EXPECT_FALSE(freed_memory_is_wiped());
  {
    const WipeFreedMemory outer;
    EXPECT_TRUE(freed_memory_is_wiped());
    {
      const WipeFreedMemory inner;
      EXPECT_TRUE(freed_memory_is_wiped());
    }
    EXPECT_TRUE(freed_memory_is_wiped()) << "the inner scope ended the outer one";
    bool elsewhere = true;
    std::thread([&] { elsewhere = freed_memory_is_wiped(); }).join();
    EXPECT_FALSE(elsewhere);
  }
  EXPECT_FALSE(freed_memory_is_wiped());
}

// What storage held after it was given back cannot be read without undefined behaviour, so
// only the allocator's container use and its equality are checked here.
TEST(WipingAllocator, WorksAsAContainerAllocatorAndAllInstancesAreEqual) {
  std::vector<unsigned char, WipingAllocator<unsigned char>> buffer;
  for (int i = 0; i < 1000; ++i) buffer.push_back(static_cast<unsigned char>(i));  // grows several times
  ASSERT_EQ(buffer.size(), 1000u);
  EXPECT_EQ(buffer[999], static_cast<unsigned char>(999));
  EXPECT_TRUE((WipingAllocator<int>() == WipingAllocator<long>()));
  EXPECT_FALSE((WipingAllocator<int>() != WipingAllocator<long>()));
}

}  // namespace
}  // namespace fls
