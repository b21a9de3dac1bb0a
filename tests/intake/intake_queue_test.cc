// The intake queue's byte bound: messages not yet committed and partial frames count together.
#include "fls/intake/intake_queue.h"

#include <gtest/gtest.h>

#include <string>

namespace fls {
namespace {

ReceivedMessage message(std::size_t bytes) { return ReceivedMessage{std::string(bytes, 'm'), 0}; }

class IntakeQueueTest : public ::testing::Test {
 protected:
  IntakeQueueTest() {
    queue_.set_room_listener([this] { ++listener_calls_; });
    queue_.open();
    listener_calls_ = 0;
  }

  IntakeQueue queue_{100};
  int listener_calls_ = 0;
};

TEST_F(IntakeQueueTest, PartialFramesAndMessagesFillTheBoundTogether) {
  queue_.add_partial_bytes(60);
  EXPECT_TRUE(queue_.has_room());
  queue_.push(message(39));
  EXPECT_TRUE(queue_.has_room());  // 99 of 100
  queue_.add_partial_bytes(1);
  EXPECT_FALSE(queue_.has_room());
  EXPECT_EQ(queue_.held_bytes(), 100u);
  EXPECT_EQ(queue_.partial_bytes(), 61u);
}

TEST_F(IntakeQueueTest, PartialFramesAloneFillTheBound) {
  queue_.add_partial_bytes(100);
  EXPECT_FALSE(queue_.has_room());
  EXPECT_TRUE(queue_.holds_only_partial_frames());
}

TEST_F(IntakeQueueTest, PartialFramesGoingAwayGiveRoomBackAtHalfTheBound) {
  queue_.add_partial_bytes(70);
  queue_.push(message(30));
  ASSERT_FALSE(queue_.has_room());
  queue_.add_partial_bytes(-19);  // 81 held: still paused, but the producer is told
  EXPECT_EQ(listener_calls_, 1);
  EXPECT_FALSE(queue_.has_room());
  queue_.add_partial_bytes(-31);  // 50 held: half the bound
  EXPECT_EQ(listener_calls_, 2);
  EXPECT_TRUE(queue_.has_room());
  EXPECT_EQ(queue_.held_bytes(), 50u);
  EXPECT_EQ(queue_.partial_bytes(), 20u);
}

TEST_F(IntakeQueueTest, EveryReleaseWhileFullCallsTheListenerAndHalfTheBoundResumes) {
  queue_.add_partial_bytes(60);
  queue_.push(message(40));
  ASSERT_FALSE(queue_.has_room());
  std::vector<ReceivedMessage> taken;
  queue_.take(taken, 10);
  queue_.release(5);  // the writer committed part of it (95 held, 60 of them partial)
  EXPECT_EQ(listener_calls_, 1);
  EXPECT_FALSE(queue_.has_room());  // the partial frames alone stay above half the bound
  queue_.release(35);
  EXPECT_EQ(listener_calls_, 2);
  EXPECT_FALSE(queue_.has_room());
  EXPECT_TRUE(queue_.holds_only_partial_frames());  // only a partial frame finishing can free room now
}

TEST_F(IntakeQueueTest, NoListenerWhileThereIsRoom) {
  queue_.add_partial_bytes(40);
  queue_.push(message(10));
  ASSERT_TRUE(queue_.has_room());
  queue_.add_partial_bytes(-40);
  queue_.release(10);
  EXPECT_EQ(listener_calls_, 0);
  EXPECT_EQ(queue_.held_bytes(), 0u);
}

TEST_F(IntakeQueueTest, MessagesWaitingForACommitAreNotOnlyPartialFrames) {
  queue_.add_partial_bytes(80);
  queue_.push(message(20));
  EXPECT_FALSE(queue_.holds_only_partial_frames());
  std::vector<ReceivedMessage> taken;
  queue_.take(taken, 10);
  EXPECT_FALSE(queue_.holds_only_partial_frames());  // taken, not yet committed
  queue_.release(20);
  EXPECT_TRUE(queue_.holds_only_partial_frames());
}

TEST_F(IntakeQueueTest, NothingHeldIsNotOnlyPartialFrames) {
  EXPECT_FALSE(queue_.holds_only_partial_frames());
  queue_.add_partial_bytes(1);
  EXPECT_TRUE(queue_.holds_only_partial_frames());
}

TEST(IntakeQueue, NoRoomBeforeItIsOpenedWhateverIsHeld) {
  IntakeQueue queue(100);
  int calls = 0;
  queue.set_room_listener([&] { ++calls; });
  EXPECT_FALSE(queue.has_room());
  queue.open();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(queue.has_room());
}

}  // namespace
}  // namespace fls
