// Events of the last hour, counted in per-second buckets (store/event_counter.h).
#include "fls/store/event_counter.h"

#include <gtest/gtest.h>

namespace fls {
namespace {

constexpr EpochMillis kT = 1'500'041'775'123;  // 2017-07-14T14:16:15.123Z
constexpr EpochMillis kSecond = 1000;
constexpr EpochMillis kHour = 3600 * kSecond;

TEST(EventCounter, EmptyCountsNothing) {
  const EventCounter counter;
  EXPECT_EQ(counter.last_hour(kT), 0u);
  EXPECT_EQ(counter.last_hour(0), 0u);
}

TEST(EventCounter, AddsWithinTheSameSecondAndAcrossSeconds) {
  EventCounter counter;
  counter.add(kT, 3);
  counter.add(kT + 500, 2);  // the same bucket
  counter.add(kT + 5 * kSecond, 4);
  EXPECT_EQ(counter.last_hour(kT + 5 * kSecond), 9u);
}

TEST(EventCounter, EventsOlderThanAnHourDropOut) {
  EventCounter counter;
  counter.add(kT, 1);
  counter.add(kT + 10 * kSecond, 2);
  EXPECT_EQ(counter.last_hour(kT + kHour - kSecond), 3u);  // 3599 s later: still in
  EXPECT_EQ(counter.last_hour(kT + kHour), 2u);            // 3600 s later: out
  EXPECT_EQ(counter.last_hour(kT + kHour + 10 * kSecond), 0u);
}

// A bucket reused an hour later starts from zero instead of adding to the old count.
TEST(EventCounter, AReusedBucketStartsOver) {
  EventCounter counter;
  counter.add(kT, 5);
  counter.add(kT + kHour, 1);  // the same slot, one hour on
  EXPECT_EQ(counter.last_hour(kT + kHour), 1u);
}

// Asked about an earlier time (a clock step back), later events are not counted.
TEST(EventCounter, EventsAfterTheAskedTimeAreNotCounted) {
  EventCounter counter;
  counter.add(kT, 1);
  counter.add(kT + 30 * kSecond, 7);
  EXPECT_EQ(counter.last_hour(kT + 10 * kSecond), 1u);
}

TEST(EventCounter, ResetForgetsEverything) {
  EventCounter counter;
  counter.add(kT, 5);
  counter.reset();
  EXPECT_EQ(counter.last_hour(kT), 0u);
  counter.add(kT, 2);
  EXPECT_EQ(counter.last_hour(kT), 2u);
}

}  // namespace
}  // namespace fls
