// Random UUID v4 ids, and the UUID text checks (common/ids.h).
#include "fls/common/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fls {
namespace {

TEST(IsUuid, CanonicalFormInEitherCase) {
  EXPECT_TRUE(is_uuid("9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b"));
  EXPECT_TRUE(is_uuid("9B2E4F0A-3C1D-4E5F-8A7B-6C5D4E3F2A1B"));
  EXPECT_TRUE(is_uuid("00000000-0000-0000-0000-000000000000"));
}

TEST(IsUuid, RejectsEverythingElse) {
  for (const char* bad : {"", "9b2e4f0a3c1d4e5f8a7b6c5d4e3f2a1b", "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1",
                          "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1bc", "9b2e4f0a-3c1d-4e5f-8a7b+6c5d4e3f2a1b",
                          "9b2e4f0a_3c1d-4e5f-8a7b-6c5d4e3f2a1b", "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1g",
                          "{9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a}", "9b2e4f0-a3c1d-4e5f-8a7b-6c5d4e3f2a1b",
                          "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1 "}) {
    EXPECT_FALSE(is_uuid(bad)) << bad;
  }
  EXPECT_FALSE(is_uuid(std::string_view("9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1\0", 36)));
}

TEST(LowerUuid, LowersOnlyTheLetters) {
  EXPECT_EQ(lower_uuid("9B2E4F0A-3C1D-4E5F-8A7B-6C5D4E3F2A1B"), "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b");
  EXPECT_EQ(lower_uuid("9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b"), "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b");
}

TEST(RandomIdSource, LowerCaseVersion4Rfc4122Variant) {
  const auto ids = make_random_id_source();
  for (int i = 0; i < 1000; ++i) {
    const std::string id = ids->next_uuid();
    ASSERT_TRUE(is_uuid(id)) << id;
    EXPECT_EQ(lower_uuid(id), id);
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
  }
}

// More than one 4 KiB pool refill, from several threads at once: never a repeat.
TEST(RandomIdSource, DistinctAcrossThreads) {
  const auto ids = make_random_id_source();
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) made[t].push_back(ids->next_uuid());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& list : made) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST(RandomIdSource, TwoSourcesDoNotRepeatEachOther) {
  const auto a = make_random_id_source();
  const auto b = make_random_id_source();
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    EXPECT_TRUE(seen.insert(a->next_uuid()).second);
    EXPECT_TRUE(seen.insert(b->next_uuid()).second);
  }
}

}  // namespace
}  // namespace fls
