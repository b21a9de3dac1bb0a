#include "fls/store/event_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "fls/common/version.h"
#include "fls/store/pg_connection.h"

namespace fls {

EventWriter::EventWriter(EventRepository& repository, IntakeQueue& queue, const Clock& clock,
                         IdSource& ids, BatchSink& sink, EventWriterOptions options)
    : repository_(repository),
      queue_(queue),
      clock_(clock),
      ids_(ids),
      sink_(sink),
      options_(std::move(options)),
      batch_deadline_(std::chrono::steady_clock::now() + options_.batch_interval) {}

EventWriter::~EventWriter() {
  {
    std::lock_guard lock(pipeline_mutex_);
    abandon_ = true;
    stopping_ = true;
    committer_exit_ = true;
  }
  pipeline_cv_.notify_all();
  queue_.wake();
  if (thread_.joinable()) thread_.join();
  for (auto& lane : lanes_) {
    if (lane.joinable()) lane.join();
  }
}

void EventWriter::start() {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.committer_lanes, 1); ++i) {
    sessions_.push_back(repository_.open_session());
  }
  for (auto& session : sessions_) lanes_.emplace_back([this, &session] { run_lane(*session); });
  thread_ = std::thread([this] { run(); });
}

bool EventWriter::drain(std::chrono::steady_clock::time_point deadline) {
  draining_ = true;
  queue_.wake();
  std::unique_lock lock(done_mutex_);
  return done_cv_.wait_until(lock, deadline, [this] { return drained_ || done_; });
}

bool EventWriter::stop(std::chrono::steady_clock::time_point deadline) {
  stopping_ = true;
  queue_.wake();
  std::unique_lock lock(done_mutex_);
  if (!done_cv_.wait_until(lock, deadline, [this] { return done_; })) {
    {
      std::lock_guard pipeline_lock(pipeline_mutex_);
      abandon_ = true;
    }
    pipeline_cv_.notify_all();
    return false;
  }
  lock.unlock();
  thread_.join();
  {
    std::lock_guard pipeline_lock(pipeline_mutex_);
    committer_exit_ = true;
  }
  pipeline_cv_.notify_all();
  for (auto& lane : lanes_) lane.join();
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

EventWriterStats EventWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void EventWriter::run() {
  while (!abandon_) {
    handle_commands();
    if (current_) take_messages();
    if (open_ && std::chrono::steady_clock::now() >= batch_deadline_) close_open_batch();
    if (!building_.group.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (!building_since_) building_since_ = now;
      const bool full = building_.group.events.size() >= options_.max_rows_per_commit;
      const auto due = *building_since_ + options_.max_commit_delay;
      if (!all_lanes_busy() && (full || now >= due || draining_ || stopping_)) {
        submit_group();
      } else if (full) {
        wait_for_free_lane();  // nothing to do until it can go
      } else {
        // More messages join the group until it is due, and after that while every lane is
        // busy (a lane wakes the queue when it is done).
        queue_.wait(now < due ? std::min(next_wake(), due) : next_wake(), current_.has_value());
      }
      continue;
    }
    const bool all_stored = (!current_ || queue_.waiting_messages() == 0) && nothing_in_flight();
    if (draining_ && all_stored) {
      if (open_) {
        close_open_batch();
        continue;
      }
      std::lock_guard lock(done_mutex_);
      if (!drained_) {
        drained_ = true;
        done_cv_.notify_all();
      }
    }
    // Done when stopping and nothing received is left that could still be stored.
    if (stopping_ && all_stored) break;
    queue_.wait(next_wake(), current_.has_value());
  }
  std::lock_guard lock(done_mutex_);
  done_ = true;
  done_cv_.notify_all();
}

std::chrono::steady_clock::time_point EventWriter::next_wake() const {
  if (stopping_ || draining_) return std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  if (open_) return batch_deadline_;
  return std::chrono::steady_clock::now() + std::chrono::hours(1);
}

void EventWriter::handle_commands() {
  std::deque<Registration> registrations;
  {
    std::lock_guard lock(mutex_);
    registrations.swap(registrations_);
    for (auto& id : acknowledgements_) building_.group.acknowledged.push_back(std::move(id));
    acknowledgements_.clear();
  }
  for (auto& registration : registrations) adopt(std::move(registration));
}

// A new registration: what the previous one left open is closed and signed with the new
// batch key, and every batch the KMS has not confirmed is signed again, because the KMS
// checks a batch's signature against the registration that delivers it. Rows keep their
// original keyId and row signature: the KMS holds every registration's row key.
void EventWriter::adopt(Registration registration) {
  flush();  // the previous registration's events first; the repository is then the writer's
  if (abandon_) return;
  open_.reset();  // it is in the database, open; recovered below with every other open batch

  current_.emplace(Current{registration.sidecar_id, RowSigner(registration.row_key),
                           std::move(registration.batch_signer), 1});
  counter_.reset();
  const EpochMillis now = clock_.now_ms();
  CommitGroup& group = building_.group;
  group.sidecar = SidecarRecord{current_->sidecar_id, options_.service_name, kVersion,
                                 current_->batch_signer.public_key_hex(), now};

  std::vector<BatchToSend> resend;
  Backoff backoff;
  for (;;) {
    try {
      for (auto& batch : repository_.unacknowledged_batches()) {
        batch.sidecar_id = current_->sidecar_id;
        batch.signature = current_->batch_signer.sign_hex(batch.data);
        resend.push_back({batch.batch_id, batch.signature});
        group.resigned_batches.push_back(std::move(batch));
      }
      for (auto& open : repository_.open_batches()) {
        BatchRecord closed{open.batch_id, current_->sidecar_id, make_batch_data(open.rows), {}, now};
        closed.signature = current_->batch_signer.sign_hex(closed.data);
        resend.push_back({closed.batch_id, closed.signature});
        group.closed_batches.push_back(std::move(closed));
      }
      break;
    } catch (const std::exception& e) {
      group.resigned_batches.clear();
      group.closed_batches.clear();
      resend.clear();
      const auto delay = backoff.next();
      spdlog::error("event writer: cannot read unfinished batches, retrying in {} ms: {}",
                    delay.count(), e.what());
      sleep_unless_stopping(delay, abandon_);
      if (abandon_) return;
    }
  }
  if (!group.closed_batches.empty() || !group.resigned_batches.empty()) {
    spdlog::info("registration {}: {} unfinished batch(es) closed and {} unacknowledged batch(es) "
                 "signed again for delivery",
                 current_->sidecar_id, group.closed_batches.size(), group.resigned_batches.size());
  }
  building_.registration_to_send.emplace(current_->sidecar_id, std::move(resend));
  batch_deadline_ = std::chrono::steady_clock::now() + options_.batch_interval;
  // Events received from now on are committed after this group, so the queue may open now.
  submit_group();
  queue_.open();
}

void EventWriter::take_messages() {
  const std::size_t rows = building_.group.events.size();
  if (rows >= options_.max_rows_per_commit) return;
  queue_.take(taken_, options_.max_rows_per_commit - rows);
  for (auto& message : taken_) append_event(message);
  taken_.clear();  // the payloads now live in the group's events; the capacity is kept
}

void EventWriter::append_event(ReceivedMessage& message) {
  if (!open_) {
    open_.emplace();
    open_->batch_id = ids_.next_uuid();
    open_->rows.reserve(options_.batch_size);
    open_->group_index = building_.group.new_batches.size();
    building_.group.new_batches.push_back(BatchRecord{open_->batch_id, current_->sidecar_id, {}, {}, 0});
  }
  const std::int64_t sequence = current_->next_sequence++;
  SignedRow row;
  row.row_json.reserve(message.payload.size() + 128);
  append_signable_row(row.row_json,
                      RowFields{current_->sidecar_id, sequence, message.payload, message.received_ms});
  current_->row_signer.sign_hex_into(row.row_json, row.signature_hex);

  building_.bytes += message.payload.size();
  building_.group.events.push_back(EventRecord{ids_.next_uuid(), current_->sidecar_id, open_->batch_id,
                                      sequence, std::move(message.payload), row.signature_hex,
                                      message.received_ms});
  open_->rows.push_back(std::move(row));
  if (open_->rows.size() >= options_.batch_size) close_open_batch();
}

void EventWriter::close_open_batch() {
  batch_deadline_ = std::chrono::steady_clock::now() + options_.batch_interval;
  if (!open_ || open_->rows.empty()) return;
  BatchRecord closed{open_->batch_id, current_->sidecar_id, make_batch_data(open_->rows), {},
                     clock_.now_ms()};
  closed.signature = current_->batch_signer.sign_hex(closed.data);
  building_.to_send.push_back({closed.batch_id, closed.signature});
  if (open_->stored) {
    building_.group.closed_batches.push_back(std::move(closed));
  } else {
    building_.group.new_batches[open_->group_index] = std::move(closed);
  }
  open_.reset();
}

void EventWriter::submit_group() {
  building_.sidecar_id = current_ ? current_->sidecar_id : std::string();
  // The open batch's row is now written by this group; whichever later group closes it
  // changes the row only after this one is committed.
  if (open_) open_->stored = true;
  {
    std::lock_guard lock(pipeline_mutex_);
    in_flight_.push_back(InFlight{std::move(building_), submitted_++});
  }
  pipeline_cv_.notify_all();
  building_ = PendingCommit{};
  building_since_.reset();
}

bool EventWriter::all_lanes_busy() const {
  std::lock_guard lock(pipeline_mutex_);
  return in_flight_.size() >= lanes_.size();
}

bool EventWriter::nothing_in_flight() const {
  std::lock_guard lock(pipeline_mutex_);
  return in_flight_.empty();
}

void EventWriter::wait_for_free_lane() {
  std::unique_lock lock(pipeline_mutex_);
  pipeline_cv_.wait(lock, [this] { return in_flight_.size() < lanes_.size() || abandon_; });
}

void EventWriter::wait_all_committed() {
  std::unique_lock lock(pipeline_mutex_);
  pipeline_cv_.wait(lock, [this] { return in_flight_.empty() || abandon_; });
}

void EventWriter::flush() {
  wait_all_committed();
  if (abandon_ || building_.group.empty()) return;
  submit_group();
  wait_all_committed();
}

EventWriter::InFlight* EventWriter::first_unclaimed() {
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(), [](const InFlight& g) { return !g.claimed; });
  return it == in_flight_.end() ? nullptr : &*it;
}

void EventWriter::run_lane(GroupSession& session) {
  std::unique_lock lock(pipeline_mutex_);
  for (;;) {
    const bool woken = pipeline_cv_.wait_for(lock, options_.idle_check_interval, [this] {
      return first_unclaimed() != nullptr || committer_exit_ || abandon_;
    });
    if (!woken) {
      // Only while nothing at all is in flight (a failing commit speaks for itself), and not
      // while stopping: a database that does not answer must not hold the stop up.
      if (!in_flight_.empty() || stopping_ || abandon_) continue;
      lock.unlock();
      check_database(session);
      lock.lock();
      continue;
    }
    InFlight* next = first_unclaimed();
    if (abandon_ || !next) return;  // abandoned, or told to exit with nothing left to claim
    next->claimed = true;
    lock.unlock();
    // The reference stays valid unlocked: std::deque's push_back keeps references to the
    // elements already there, and only this lane pops this group (from the front, once it
    // is committed).
    if (!commit_in_order(session, *next)) return;
    lock.lock();
  }
}

void EventWriter::check_database(GroupSession& session) {
  std::uint64_t outcomes_before = 0;
  {
    std::lock_guard lock(mutex_);
    outcomes_before = stats_.commits + stats_.commit_failures;
  }
  std::string failure;
  try {
    session.check_writable();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  std::lock_guard lock(mutex_);
  // A commit that succeeded or failed since the check began says more.
  if (stats_.commits + stats_.commit_failures != outcomes_before) return;
  const bool ok = failure.empty();
  if (ok == stats_.database_ok) return;  // logged once per change, not at every check
  stats_.database_ok = ok;
  if (ok) {
    spdlog::info("event writer: the database takes writes again");
  } else {
    spdlog::error("event writer: the database does not take writes: {}", failure);
  }
}

bool EventWriter::wait_turn(std::uint64_t serial) {
  std::unique_lock lock(pipeline_mutex_);
  pipeline_cv_.wait(lock, [&] { return committed_ == serial || abandon_; });
  return !abandon_;
}

bool EventWriter::is_turn(std::uint64_t serial) const {
  std::lock_guard lock(pipeline_mutex_);
  return committed_ == serial;
}

bool EventWriter::commit_in_order(GroupSession& session, InFlight& group) {
  const CommitGroup& rows = group.pending.group;
  Backoff backoff;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    GroupOutcome outcome = session.begin(rows);
    if (outcome.ok()) {
      if (!wait_turn(group.serial)) return false;
      if (outcome.status == GroupOutcome::Status::kOpen) outcome = session.commit(rows);
    }
    if (outcome.ok()) {
      std::lock_guard lock(mutex_);
      stats_.commit_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      break;
    }
    if (!is_turn(group.serial)) {
      // An earlier group is still uncommitted, and most likely failing the same way: it
      // reports the failure and retries with backoff; this group tries again after it.
      spdlog::debug("event writer: writing {} event(s) ahead of their turn failed, retrying after the group "
                    "before them: {}", rows.events.size(), outcome.error);
      if (!wait_turn(group.serial)) return false;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.commit_failures;
      stats_.database_ok = false;
    }
    const auto delay = backoff.next();
    spdlog::error("event writer: commit of {} event(s) failed after {} ms, retrying in {} ms: {}",
                  rows.events.size(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started).count(),
                  delay.count(), outcome.error);
    sleep_unless_stopping(delay, abandon_);
    if (abandon_) return false;
  }
  committed(group.pending);
  PendingCommit done;  // freed outside the lock
  {
    std::lock_guard lock(pipeline_mutex_);
    done = std::move(in_flight_.front().pending);  // this group: groups commit in order
    in_flight_.pop_front();
    ++committed_;
  }
  pipeline_cv_.notify_all();
  queue_.wake();  // the writer may be waiting for a free lane to hand over its next group
  return true;
}

void EventWriter::committed(PendingCommit& pending) {
  const CommitGroup& group = pending.group;
  const std::size_t events = group.events.size();
  const std::size_t closed =
      group.closed_batches.size() +
      static_cast<std::size_t>(std::count_if(group.new_batches.begin(), group.new_batches.end(),
                                             [](const BatchRecord& b) { return !b.data.empty(); }));
  {
    std::lock_guard lock(mutex_);
    if (!stats_.database_ok) spdlog::info("event writer: database writes succeed again");
    stats_.database_ok = true;
    ++stats_.commits;
    stats_.events_stored += events;
    stats_.batches_closed += closed;
    stats_.batches_acknowledged += group.acknowledged.size();
  }
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

}  // namespace fls
