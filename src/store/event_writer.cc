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
  abandon_ = true;
  stopping_ = true;
  queue_.wake();
  if (thread_.joinable()) thread_.join();
}

void EventWriter::start() { thread_ = std::thread([this] { run(); }); }

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
    abandon_ = true;
    return false;
  }
  lock.unlock();
  thread_.join();
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
    if (!group_.empty()) {
      commit_group();
      continue;
    }
    const bool all_stored = !current_ || queue_.waiting_messages() == 0;
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
    for (auto& id : acknowledgements_) group_.acknowledged.push_back(std::move(id));
    acknowledgements_.clear();
  }
  for (auto& registration : registrations) adopt(std::move(registration));
}

// A new registration: what the previous one left open is closed and signed with the new
// batch key, and every batch the KMS has not confirmed is signed again, because the KMS
// checks a batch's signature against the registration that delivers it. Rows keep their
// original keyId and row signature: the KMS holds every registration's row key.
void EventWriter::adopt(Registration registration) {
  if (!group_.empty()) commit_group();  // the previous registration's events first
  if (abandon_) return;
  open_.reset();  // it is in the database, open; recovered below with every other open batch

  current_.emplace(Current{registration.sidecar_id, RowSigner(registration.row_key),
                           std::move(registration.batch_signer), 1});
  counter_.reset();
  const EpochMillis now = clock_.now_ms();
  group_.sidecar = SidecarRecord{current_->sidecar_id, options_.service_name, kVersion,
                                 current_->batch_signer.public_key_hex(), now};

  std::vector<BatchToSend> resend;
  Backoff backoff;
  for (;;) {
    try {
      for (auto& batch : repository_.unacknowledged_batches()) {
        batch.sidecar_id = current_->sidecar_id;
        batch.signature = current_->batch_signer.sign_hex(batch.data);
        resend.push_back({batch.batch_id, batch.signature});
        group_.resigned_batches.push_back(std::move(batch));
      }
      for (auto& open : repository_.open_batches()) {
        BatchRecord closed{open.batch_id, current_->sidecar_id, make_batch_data(open.rows), {}, now};
        closed.signature = current_->batch_signer.sign_hex(closed.data);
        resend.push_back({closed.batch_id, closed.signature});
        group_.closed_batches.push_back(std::move(closed));
      }
      break;
    } catch (const std::exception& e) {
      group_.resigned_batches.clear();
      group_.closed_batches.clear();
      resend.clear();
      const auto delay = backoff.next();
      spdlog::error("event writer: cannot read unfinished batches, retrying in {} ms: {}",
                    delay.count(), e.what());
      sleep_unless_stopping(delay, abandon_);
      if (abandon_) return;
    }
  }
  if (!group_.closed_batches.empty() || !group_.resigned_batches.empty()) {
    spdlog::info("registration {}: {} unfinished batch(es) closed and {} unacknowledged batch(es) "
                 "signed again for delivery",
                 current_->sidecar_id, group_.closed_batches.size(), group_.resigned_batches.size());
  }
  registration_to_send_.emplace(current_->sidecar_id, std::move(resend));
  batch_deadline_ = std::chrono::steady_clock::now() + options_.batch_interval;
  commit_group();
  queue_.open();
}

void EventWriter::take_messages() {
  if (group_.events.size() >= options_.max_rows_per_commit) return;
  queue_.take(taken_, options_.max_rows_per_commit - group_.events.size());
  for (auto& message : taken_) append_event(message);
  taken_.clear();  // the payloads now live in group_.events; the capacity is kept
}

void EventWriter::append_event(ReceivedMessage& message) {
  if (!open_) {
    open_.emplace();
    open_->batch_id = ids_.next_uuid();
    open_->rows.reserve(options_.batch_size);
    open_->group_index = group_.new_batches.size();
    group_.new_batches.push_back(BatchRecord{open_->batch_id, current_->sidecar_id, {}, {}, 0});
  }
  const std::int64_t sequence = current_->next_sequence++;
  SignedRow row;
  row.row_json.reserve(message.payload.size() + 128);
  append_signable_row(row.row_json,
                      RowFields{current_->sidecar_id, sequence, message.payload, message.received_ms});
  current_->row_signer.sign_hex_into(row.row_json, row.signature_hex);

  group_bytes_ += message.payload.size();
  group_.events.push_back(EventRecord{ids_.next_uuid(), current_->sidecar_id, open_->batch_id,
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
  to_send_.push_back({closed.batch_id, closed.signature});
  if (open_->stored) {
    group_.closed_batches.push_back(std::move(closed));
  } else {
    group_.new_batches[open_->group_index] = std::move(closed);
  }
  open_.reset();
}

void EventWriter::commit_group() {
  Backoff backoff;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    try {
      repository_.commit(group_);
      std::lock_guard lock(mutex_);
      stats_.commit_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      break;
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        ++stats_.commit_failures;
        stats_.database_ok = false;
      }
      const auto delay = backoff.next();
      spdlog::error("event writer: commit of {} event(s) failed after {} ms, retrying in {} ms: {}",
                    group_.events.size(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started).count(),
                    delay.count(), e.what());
      sleep_unless_stopping(delay, abandon_);
      if (abandon_) return;
    }
  }
  const std::size_t events = group_.events.size();
  const std::size_t closed =
      group_.closed_batches.size() +
      static_cast<std::size_t>(std::count_if(group_.new_batches.begin(), group_.new_batches.end(),
                                             [](const BatchRecord& b) { return !b.data.empty(); }));
  {
    std::lock_guard lock(mutex_);
    if (!stats_.database_ok) spdlog::info("event writer: database writes succeed again");
    stats_.database_ok = true;
    ++stats_.commits;
    stats_.events_stored += events;
    stats_.batches_closed += closed;
    stats_.batches_acknowledged += group_.acknowledged.size();
  }
  if (events != 0) counter_.add(clock_.now_ms(), events);
  if (open_) open_->stored = true;
  group_ = CommitGroup{};
  queue_.release(group_bytes_);
  group_bytes_ = 0;
  if (registration_to_send_) {
    auto& [sidecar_id, batches] = *registration_to_send_;
    batches.insert(batches.end(), to_send_.begin(), to_send_.end());
    sink_.send_after_registration(std::move(sidecar_id), std::move(batches));
    registration_to_send_.reset();
  } else if (!to_send_.empty()) {
    sink_.send(current_->sidecar_id, std::move(to_send_));
  }
  to_send_.clear();
}

}  // namespace fls
