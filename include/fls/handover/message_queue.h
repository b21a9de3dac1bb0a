#pragma once
// The hand-over of received messages from the intake to the event writer, as the writer (the
// consumer) sees it. The intake's IntakeQueue implements it; the store knows only this.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "fls/common/clock.h"

namespace fls {

struct ReceivedMessage {
  std::string payload;      // the frame's bytes as received
  EpochMillis received_ms;  // when the frame was complete
};

class MessageQueue {
 public:
  virtual ~MessageQueue() = default;

  // Lets the producer read: until then the queue has no room.
  virtual void open() = 0;
  // Blocks until there are messages (if `want_messages`), wake() is called, or `deadline` passes.
  virtual void wait(std::chrono::steady_clock::time_point deadline, bool want_messages) = 0;
  virtual void wake() = 0;
  // Moves up to `max_count` messages, oldest first, into `out`. Their bytes stay counted.
  virtual void take(std::vector<ReceivedMessage>& out, std::size_t max_count) = 0;
  // The consumer committed messages of this many payload bytes.
  virtual void release(std::size_t bytes) = 0;
  virtual std::size_t waiting_messages() const = 0;
};

}  // namespace fls
