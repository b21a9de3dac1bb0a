// The inquiries fls-kms waits on (protocol.md §7 "Progress"): who was asked, what counts, when an
// inquiry has nothing left to wait for, and when it gives up.
#include "fls/kms_server/inquiry_tracker.h"

#include <gtest/gtest.h>

#include <chrono>

namespace fls::kms {
namespace {

using namespace std::chrono_literals;
using TimePoint = InquiryTracker::TimePoint;

const TimePoint kStart{std::chrono::seconds(1000)};

TEST(InquiryTracker, OnlyAskedSidecarsOfOpenInquiriesCount) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {}, kStart + 60s);
  EXPECT_EQ(tracker.judge("a", "other", 1, 1, true).dropped, "it is not open");
  EXPECT_EQ(tracker.judge("c", "i", 1, 1, true).dropped, "it was not sent to this sidecar");
  const auto counted = tracker.judge("a", "i", 1, 1, true);
  EXPECT_TRUE(counted.dropped.empty());
  EXPECT_FALSE(counted.problem);
  // The same item again is kept as a problem of its sender.
  const auto repeated = tracker.judge("a", "i", 1, 1, true);
  EXPECT_TRUE(repeated.dropped.empty());
  EXPECT_TRUE(repeated.problem);
}

TEST(InquiryTracker, FinishedWhenEveryAskedSidecarAnsweredWholeOrLeft) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {}, kStart + 60s);
  tracker.judge("a", "i", 2, 1, true);
  EXPECT_FALSE(tracker.finished("i"));
  tracker.judge("a", "i", 2, 2, true);
  EXPECT_FALSE(tracker.finished("i")) << "b has not answered";
  EXPECT_EQ(tracker.sidecar_gone("b"), std::vector<std::string>{"i"});
  EXPECT_TRUE(tracker.finished("i"));
}

TEST(InquiryTracker, ANothingFoundAnswerIsWhole) {
  InquiryTracker tracker;
  tracker.track("i", {"a"}, {}, kStart + 60s);
  tracker.judge("a", "i", 0, 0, false);
  EXPECT_TRUE(tracker.finished("i"));
}

TEST(InquiryTracker, ASidecarThatLeftBeforeItWasAskedIsNotWaitedFor) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {"b"}, kStart + 60s);
  tracker.judge("a", "i", 0, 0, false);
  EXPECT_TRUE(tracker.finished("i"));
}

TEST(InquiryTracker, LeavingFinishesOnlyTheInquiriesThatWaitedOnIt) {
  InquiryTracker tracker;
  tracker.track("one", {"a"}, {}, kStart + 60s);
  tracker.track("two", {"a", "b"}, {}, kStart + 60s);
  tracker.track("three", {"b"}, {}, kStart + 60s);
  EXPECT_EQ(tracker.sidecar_gone("a"), std::vector<std::string>{"one"});
  EXPECT_FALSE(tracker.finished("three"));
}

TEST(InquiryTracker, DeadlinesExpireInOrderAndForgottenInquiriesAreNotWaitedOn) {
  InquiryTracker tracker;
  tracker.track("late", {"a"}, {}, kStart + 90s);
  tracker.track("early", {"a"}, {}, kStart + 30s);
  EXPECT_EQ(tracker.next_deadline(), kStart + 30s);
  EXPECT_TRUE(tracker.expired(kStart + 29s).empty());
  EXPECT_EQ(tracker.expired(kStart + 30s), std::vector<std::string>{"early"});
  EXPECT_TRUE(tracker.forget("early"));
  EXPECT_FALSE(tracker.forget("early"));
  EXPECT_EQ(tracker.next_deadline(), kStart + 90s);
  EXPECT_TRUE(tracker.forget("late"));
  EXPECT_FALSE(tracker.next_deadline());
  EXPECT_EQ(tracker.judge("a", "late", 0, 0, false).dropped, "it is not open");
}

}  // namespace
}  // namespace fls::kms
