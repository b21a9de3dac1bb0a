// Exponential backoff from 100 ms up to a maximum, and a sleep that a stop cuts short.
#include "fls/common/backoff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace fls {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesFrom100MsUpToTheMaximum) {
  Backoff backoff(milliseconds(1000));
  EXPECT_EQ(backoff.next(), milliseconds(100));
  EXPECT_EQ(backoff.next(), milliseconds(200));
  EXPECT_EQ(backoff.next(), milliseconds(400));
  EXPECT_EQ(backoff.next(), milliseconds(800));
  EXPECT_EQ(backoff.next(), milliseconds(1000));
  EXPECT_EQ(backoff.next(), milliseconds(1000));
}

TEST(Backoff, DefaultMaximumIsFiveSeconds) {
  Backoff backoff;
  milliseconds last{0};
  for (int i = 0; i < 20; ++i) last = backoff.next();
  EXPECT_EQ(last, milliseconds(5000));
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(milliseconds(1000));
  backoff.next();
  backoff.next();
  backoff.reset();
  EXPECT_EQ(backoff.next(), milliseconds(100));
}

TEST(SleepUnlessStopping, SleepsTheWholeDelay) {
  const std::atomic<bool> stopping{false};
  const auto start = std::chrono::steady_clock::now();
  sleep_unless_stopping(milliseconds(120), stopping);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(120));
}

TEST(SleepUnlessStopping, ReturnsAtOnceWhenAlreadyStopping) {
  const std::atomic<bool> stopping{true};
  const auto start = std::chrono::steady_clock::now();
  sleep_unless_stopping(std::chrono::hours(1), stopping);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(50));
}

TEST(SleepUnlessStopping, AStopCutsItShort) {
  std::atomic<bool> stopping{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(60));
    stopping = true;
  });
  const auto start = std::chrono::steady_clock::now();
  sleep_unless_stopping(std::chrono::seconds(30), stopping);
  const auto slept = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_GE(slept, milliseconds(60));
  EXPECT_LT(slept, std::chrono::seconds(5));  // polled every 50 ms
}

}  // namespace
}  // namespace fls
