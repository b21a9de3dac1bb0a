#pragma once
// The hand-over from the I/O thread (producer) to the event writer (consumer), bounded in
// bytes. A message stays counted until the writer has committed it, and the bytes of frames
// still being received count too, so the bound covers everything the sidecar holds in memory
// on the way to the database.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "fls/handover/message_queue.h"

namespace fls {

class IntakeQueue final : public MessageQueue {
 public:
  explicit IntakeQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Until open() the queue has no room, so no connection reads: before the sidecar has keys
  // to sign with, clients are held by TCP back-pressure and nothing is read that could be lost.
  void open() override;
  bool is_open() const;
  // Waits until open() was called; false if `deadline` passed first.
  bool wait_open(std::chrono::steady_clock::time_point deadline) const;

  // Producer side. Never refuses: a frame that was read is never dropped. The caller checks
  // has_room() before reading more from its socket.
  void push(ReceivedMessage message);
  // The bytes the producer holds in frames not yet complete changed by `delta`; they count
  // against the same bound as the messages.
  void add_partial_bytes(std::int64_t delta);
  // False from the moment the held bytes reach the bound until they are down to half of it.
  bool has_room() const;
  // True while partial frames are all that is held: no message waits for a commit, so only
  // those frames completing or going away can free room.
  bool holds_only_partial_frames() const;
  // Called whenever held bytes go down while has_room() is false (on the thread that freed
  // them): the producer asks has_room() again, and may let one partial frame finish meanwhile.
  void set_room_listener(std::function<void()> listener);

  // Consumer side. Blocks until there are messages (if `want_messages`), wake() is called, or
  // `deadline` passes.
  void wait(std::chrono::steady_clock::time_point deadline, bool want_messages) override;
  void wake() override;
  // Moves up to `max_count` messages, oldest first, into `out`. Their bytes stay counted.
  void take(std::vector<ReceivedMessage>& out, std::size_t max_count) override;
  // The writer committed messages of this many payload bytes.
  void release(std::size_t bytes) override;

  std::size_t held_bytes() const;  // messages not yet released, plus partial frames
  std::size_t partial_bytes() const;
  std::size_t waiting_messages() const override;
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  mutable std::condition_variable open_cv_;
  std::deque<ReceivedMessage> messages_;
  std::size_t held_bytes_ = 0;     // queued plus taken but not yet released, plus partial_bytes_
  std::size_t partial_bytes_ = 0;  // the producer's frames in progress
  bool woken_ = false;
  bool open_ = false;
  mutable bool producer_blocked_ = false;
  std::function<void()> room_listener_;

  // Under `mutex_`, after held bytes went down: unblocks the producer at half the bound, and
  // returns the listener to call (outside the lock) if the producer is or was blocked.
  std::function<void()> freed_locked();
};

}  // namespace fls
