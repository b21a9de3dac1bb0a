#include "fls/intake/intake_queue.h"

namespace fls {

void IntakeQueue::push(ReceivedMessage message) {
  {
    std::lock_guard lock(mutex_);
    held_bytes_ += message.payload.size();
    messages_.push_back(std::move(message));
  }
  cv_.notify_one();
}

void IntakeQueue::add_partial_bytes(std::int64_t delta) {
  std::function<void()> listener;
  {
    std::lock_guard lock(mutex_);
    const auto change = static_cast<std::size_t>(delta);  // wraps for a negative delta, as intended
    partial_bytes_ += change;
    held_bytes_ += change;
    if (delta < 0) listener = freed_locked();
  }
  if (listener) listener();
}

bool IntakeQueue::has_room() const {
  std::lock_guard lock(mutex_);
  if (producer_blocked_) return false;  // stay paused until half the bound is free
  if (open_ && held_bytes_ < max_bytes_) return true;
  producer_blocked_ = true;
  return false;
}

void IntakeQueue::open() {
  std::function<void()> listener;
  {
    std::lock_guard lock(mutex_);
    if (open_) return;
    open_ = true;
    open_cv_.notify_all();
    if (producer_blocked_) {
      producer_blocked_ = false;
      listener = room_listener_;
    }
  }
  if (listener) listener();
}

bool IntakeQueue::is_open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

bool IntakeQueue::wait_open(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return open_cv_.wait_until(lock, deadline, [this] { return open_; });
}

void IntakeQueue::set_room_listener(std::function<void()> listener) {
  std::lock_guard lock(mutex_);
  room_listener_ = std::move(listener);
}

void IntakeQueue::wait(std::chrono::steady_clock::time_point deadline, bool want_messages) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, deadline, [&] { return woken_ || (want_messages && !messages_.empty()); });
  woken_ = false;
}

void IntakeQueue::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_one();
}

void IntakeQueue::take(std::vector<ReceivedMessage>& out, std::size_t max_count) {
  std::lock_guard lock(mutex_);
  while (!messages_.empty() && max_count-- > 0) {
    out.push_back(std::move(messages_.front()));
    messages_.pop_front();
  }
}

void IntakeQueue::release(std::size_t bytes) {
  std::function<void()> listener;
  {
    std::lock_guard lock(mutex_);
    held_bytes_ -= bytes;
    listener = freed_locked();
  }
  if (listener) listener();
}

std::function<void()> IntakeQueue::freed_locked() {
  if (!producer_blocked_) return {};
  // Resume readers only once half the bound is free, so they do not flap at the limit.
  if (held_bytes_ <= max_bytes_ / 2) producer_blocked_ = false;
  return room_listener_;
}

bool IntakeQueue::holds_only_partial_frames() const {
  std::lock_guard lock(mutex_);
  return partial_bytes_ > 0 && held_bytes_ == partial_bytes_;
}

std::size_t IntakeQueue::partial_bytes() const {
  std::lock_guard lock(mutex_);
  return partial_bytes_;
}

std::size_t IntakeQueue::held_bytes() const {
  std::lock_guard lock(mutex_);
  return held_bytes_;
}

std::size_t IntakeQueue::waiting_messages() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

}  // namespace fls
