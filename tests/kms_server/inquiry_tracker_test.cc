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

// Judged, and stored at once (as a store that verifies nothing would).
InquiryJudgement judge_and_store(InquiryTracker& tracker, const std::string& sender, const std::string& inquiry,
                                 std::int64_t total, std::int64_t item, bool has_batch) {
  InquiryJudgement judgement = tracker.judge(sender, inquiry, total, item, has_batch);
  if (judgement.dropped.empty()) tracker.stored(inquiry);
  return judgement;
}

TEST(InquiryTracker, FinishedWhenEveryAskedSidecarAnsweredWholeOrLeft) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {}, kStart + 60s);
  judge_and_store(tracker, "a", "i", 2, 1, true);
  EXPECT_FALSE(tracker.finished("i"));
  judge_and_store(tracker, "a", "i", 2, 2, true);
  EXPECT_FALSE(tracker.finished("i")) << "b has not answered";
  EXPECT_EQ(tracker.sidecar_gone("b"), std::vector<std::string>{"i"});
  EXPECT_TRUE(tracker.finished("i"));
}

TEST(InquiryTracker, ANothingFoundAnswerIsWhole) {
  InquiryTracker tracker;
  tracker.track("i", {"a"}, {}, kStart + 60s);
  judge_and_store(tracker, "a", "i", 0, 0, false);
  EXPECT_TRUE(tracker.finished("i"));
}

TEST(InquiryTracker, ASidecarThatLeftBeforeItWasAskedIsNotWaitedFor) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {"b"}, kStart + 60s);
  judge_and_store(tracker, "a", "i", 0, 0, false);
  EXPECT_TRUE(tracker.finished("i"));
}

// Responses are verified side by side, so the last to arrive may be stored first: the inquiry
// is finished only once every response judged is stored, whichever came last.
TEST(InquiryTracker, NotFinishedWhileAResponseIsStillBeingStoredAndArrivalsAreNumbered) {
  InquiryTracker tracker;
  tracker.track("i", {"a", "b"}, {}, kStart + 60s);
  EXPECT_EQ(tracker.judge("a", "i", 2, 1, true).arrival, 1);
  EXPECT_EQ(tracker.judge("a", "i", 2, 2, true).arrival, 2);
  EXPECT_EQ(tracker.judge("a", "i", 2, 2, true).arrival, 3) << "a problem is stored too";
  EXPECT_EQ(tracker.judge("c", "i", 1, 1, true).arrival, 0) << "dropped: not stored";
  EXPECT_TRUE(tracker.sidecar_gone("b").empty());
  tracker.stored("i");
  tracker.stored("i");
  EXPECT_FALSE(tracker.finished("i"));
  tracker.stored("i");
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
