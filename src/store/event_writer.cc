#include "fls/store/event_writer.h"

#include <algorithm>

#include "fls/store/registration_recovery.h"

namespace fls {

EventWriter::EventWriter(EventRepository& repository, MessageQueue& queue, const Clock& clock, IdSource& ids,
                         BatchSink& sink, EventWriterOptions options)
    : repository_(repository),
      queue_(queue),
      clock_(clock),
      sink_(sink),
      batcher_(clock, steady_, ids, options),  // its part of the options
      lanes_(repository, *this, CommitterOptions{options.committer_lanes, options.idle_check_interval}) {}

EventWriter::~EventWriter() {
  lanes_.abandon();
  queue_.wake();
  if (thread_.joinable()) thread_.join();
  lanes_.join();
}

void EventWriter::start() {
  lanes_.start();
  thread_ = std::thread([this] { run(); });
}

bool EventWriter::drain(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    drain_requested_ = true;
  }
  queue_.wake();
  std::unique_lock lock(mutex_);
  return reported_.wait_until(lock, deadline, [this] { return drained_ || done_; });
}

bool EventWriter::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  lanes_.stop_idle_checks();
  queue_.wake();
  std::unique_lock lock(mutex_);
  if (!reported_.wait_until(lock, deadline, [this] { return done_; })) {
    lock.unlock();
    lanes_.abandon();
    return false;
  }
  lock.unlock();
  thread_.join();
  lanes_.finish();
  return true;
}

void EventWriter::use_registration(Registration registration) {
  {
    std::lock_guard lock(mutex_);
    registrations_.push_back(std::move(registration));
  }
  queue_.wake();
}

void EventWriter::acknowledge(std::string batch_id) {
  {
    std::lock_guard lock(mutex_);
    acknowledgements_.push_back(std::move(batch_id));
  }
  queue_.wake();
}

void EventWriter::run() {
  while (!lanes_.abandoned()) {
    take_commands();
    if (batcher_.registered()) take_messages();
    batcher_.close_batch_if_due();
    if (!batcher_.group_empty()) {
      const auto now = steady_.now();
      const bool full = batcher_.group_full();
      const auto due = batcher_.group_due();
      if (!lanes_.all_busy() && (full || now >= due || draining_ || stopping_)) {
        lanes_.submit(batcher_.take_group());
      } else if (full) {
        lanes_.wait_for_free_lane();  // nothing to do until it can go
      } else {
        // More messages join the group until it is due, and after that while every lane is
        // busy (a lane wakes the queue when it is done).
        queue_.wait(now < due ? std::min(next_wake(), due) : next_wake(), batcher_.registered());
      }
      continue;
    }
    const bool all_stored = (!batcher_.registered() || queue_.waiting_messages() == 0) && lanes_.idle();
    if (draining_ && all_stored) {
      if (batcher_.has_open_batch()) {
        batcher_.close_open_batch();
        continue;
      }
      report(drained_);
    }
    // Done when stopping and nothing received is left that could still be stored.
    if (stopping_ && all_stored) break;
    queue_.wait(next_wake(), batcher_.registered());
  }
  report(done_);
}

void EventWriter::report(bool& flag) {
  {
    std::lock_guard lock(mutex_);
    if (flag) return;
    flag = true;
  }
  reported_.notify_all();
}

std::chrono::steady_clock::time_point EventWriter::next_wake() const {
  if (stopping_ || draining_) return steady_.now() + std::chrono::milliseconds(50);
  if (batcher_.has_open_batch()) return batcher_.batch_deadline();
  return steady_.now() + std::chrono::hours(1);
}

void EventWriter::take_commands() {
  std::deque<Registration> registrations;
  {
    std::lock_guard lock(mutex_);
    registrations.swap(registrations_);
    acknowledged_.swap(acknowledgements_);
    draining_ = drain_requested_;
    stopping_ = stop_requested_;
  }
  for (auto& id : acknowledged_) batcher_.acknowledge(std::move(id));
  acknowledged_.clear();
  for (auto& registration : registrations) adopt(std::move(registration));
}

void EventWriter::adopt(Registration registration) {
  flush();  // the previous registration's events first; the repository is then the writer's
  if (lanes_.abandoned()) return;
  counter_.reset();
  auto unfinished = read_unfinished_batches(repository_, lanes_.abandon_flag());
  if (!unfinished) return;
  // Events received from now on are committed after this group, so the queue may open now.
  lanes_.submit(batcher_.adopt(std::move(registration), std::move(*unfinished)));
  queue_.open();
}

void EventWriter::take_messages() {
  const std::size_t room = batcher_.room();
  if (room == 0) return;
  queue_.take(taken_, room);
  for (auto& message : taken_) batcher_.add(message);
  taken_.clear();  // the payloads now live in the group's events; the capacity is kept
}

void EventWriter::flush() {
  lanes_.wait_all_committed();
  if (lanes_.abandoned() || batcher_.group_empty()) return;
  lanes_.submit(batcher_.take_group());
  lanes_.wait_all_committed();
}

void EventWriter::committed(PendingCommit& pending) {
  const std::size_t events = pending.group.events.size();
  if (events != 0) counter_.add(clock_.now_ms(), events);
  queue_.release(pending.bytes);
  if (pending.registration_to_send) {
    auto& [sidecar_id, batches] = *pending.registration_to_send;
    batches.insert(batches.end(), pending.to_send.begin(), pending.to_send.end());
    sink_.send_after_registration(std::move(sidecar_id), std::move(batches));
  } else if (!pending.to_send.empty()) {
    sink_.send(pending.sidecar_id, std::move(pending.to_send));
  }
}

void EventWriter::lane_freed() {
  queue_.wake();  // the writer may be waiting for a free lane to hand over its next group
}

}  // namespace fls
