#include "fls/store/committer_lanes.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "fls/common/backoff.h"

namespace fls {

CommitterLanes::CommitterLanes(EventRepository& repository, CommitListener& listener, CommitterOptions options)
    : repository_(repository), listener_(listener), options_(options) {}

CommitterLanes::~CommitterLanes() {
  abandon();
  join();
}

void CommitterLanes::start() {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.lanes, 1); ++i) {
    sessions_.push_back(repository_.open_session());
  }
  for (auto& session : sessions_) lanes_.emplace_back([this, &session] { run_lane(*session); });
}

void CommitterLanes::submit(PendingCommit group) {
  {
    std::lock_guard lock(mutex_);
    in_flight_.push_back(InFlight{std::move(group), submitted_++});
  }
  cv_.notify_all();
}

bool CommitterLanes::all_busy() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size() >= lanes_.size();
}

bool CommitterLanes::idle() const {
  std::lock_guard lock(mutex_);
  return in_flight_.empty();
}

void CommitterLanes::wait_for_free_lane() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return in_flight_.size() < lanes_.size() || abandon_; });
}

void CommitterLanes::wait_all_committed() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return in_flight_.empty() || abandon_; });
}

void CommitterLanes::stop_idle_checks() {
  std::lock_guard lock(mutex_);
  no_idle_checks_ = true;
}

void CommitterLanes::finish() {
  {
    std::lock_guard lock(mutex_);
    finish_ = true;
  }
  cv_.notify_all();
  join();
}

void CommitterLanes::abandon() {
  {
    std::lock_guard lock(mutex_);
    abandon_ = true;
  }
  cv_.notify_all();
}

void CommitterLanes::join() {
  for (auto& lane : lanes_) {
    if (lane.joinable()) lane.join();
  }
}

CommitStats CommitterLanes::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

CommitterLanes::InFlight* CommitterLanes::first_unclaimed() {
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(), [](const InFlight& g) { return !g.claimed; });
  return it == in_flight_.end() ? nullptr : &*it;
}

void CommitterLanes::run_lane(GroupSession& session) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const bool woken = cv_.wait_for(lock, options_.idle_check_interval,
                                    [this] { return first_unclaimed() != nullptr || finish_ || abandon_; });
    if (!woken) {
      // Only while nothing at all is in flight (a failing commit speaks for itself), and not
      // while stopping: a database that does not answer must not hold the stop up.
      if (!in_flight_.empty() || no_idle_checks_ || abandon_) continue;
      lock.unlock();
      check_database(session);
      lock.lock();
      continue;
    }
    InFlight* next = first_unclaimed();
    if (abandon_ || !next) return;  // abandoned, or told to finish with nothing left to claim
    next->claimed = true;
    lock.unlock();
    // The reference stays valid unlocked: std::deque's push_back keeps references to the
    // elements already there, and only this lane pops this group (from the front, once it
    // is committed).
    if (!commit_in_order(session, *next)) return;
    lock.lock();
  }
}

void CommitterLanes::check_database(GroupSession& session) {
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

bool CommitterLanes::wait_turn(std::uint64_t serial) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return turn_ == serial || abandon_; });
  return !abandon_;
}

bool CommitterLanes::is_turn(std::uint64_t serial) const {
  std::lock_guard lock(mutex_);
  return turn_ == serial;
}

bool CommitterLanes::commit_in_order(GroupSession& session, InFlight& entry) {
  const CommitGroup& group = entry.pending.group;
  Backoff backoff;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    GroupOutcome outcome = session.begin(group);
    if (outcome.ok()) {
      if (!wait_turn(entry.serial)) return false;
      if (outcome.status == GroupOutcome::Status::kOpen) outcome = session.commit(group);
    }
    if (outcome.ok()) {
      count_commit(group, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      break;
    }
    if (!is_turn(entry.serial)) {
      // An earlier group is still uncommitted, and most likely failing the same way: it
      // reports the failure and retries with backoff; this group tries again after it.
      spdlog::debug(
          "event writer: writing {} event(s) ahead of their turn failed, retrying after the group "
          "before them: {}",
          group.events.size(), outcome.error);
      if (!wait_turn(entry.serial)) return false;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.commit_failures;
      stats_.database_ok = false;
    }
    const auto delay = backoff.next();
    spdlog::error(
        "event writer: commit of {} event(s) failed after {} ms, retrying in {} ms: {}", group.events.size(),
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
        delay.count(), outcome.error);
    sleep_unless_stopping(delay, abandon_);
    if (abandon_) return false;
  }
  listener_.committed(entry.pending);
  PendingCommit done;  // freed outside the lock
  {
    std::lock_guard lock(mutex_);
    done = std::move(in_flight_.front().pending);  // this group: groups commit in order
    in_flight_.pop_front();
    ++turn_;
  }
  cv_.notify_all();
  listener_.lane_freed();
  return true;
}

void CommitterLanes::count_commit(const CommitGroup& group, double seconds) {
  const auto closed = group.closed_batches.size() +
                      static_cast<std::size_t>(std::count_if(group.new_batches.begin(), group.new_batches.end(),
                                                             [](const BatchRecord& b) { return !b.data.empty(); }));
  std::lock_guard lock(mutex_);
  stats_.commit_seconds.observe(seconds);
  if (!stats_.database_ok) spdlog::info("event writer: database writes succeed again");
  stats_.database_ok = true;
  ++stats_.commits;
  stats_.events_stored += group.events.size();
  stats_.batches_closed += closed;
  stats_.batches_acknowledged += group.acknowledged.size();
}

}  // namespace fls
