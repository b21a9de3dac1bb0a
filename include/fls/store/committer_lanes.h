#pragma once
// The committer lanes: a few threads, each with a database session of its own, that commit the
// groups one thread (the event writer's) submits, strictly in submission order. A free lane
// writes a group's rows at once (GroupSession::begin), while the group before it may still be
// committing, so the database's CPU and its WAL flush overlap across groups; the group's commit
// (GroupSession::commit, which may change rows of earlier groups) waits for its turn. A group
// that fails is retried with backoff until it commits; the groups after it wait for it, and
// write their rows again after it if theirs failed meanwhile.
//
// The lanes own what is in flight and the commit statistics, under one mutex. They tell the
// listener about each committed group from their own threads, one group at a time, in order.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "fls/common/prometheus.h"
#include "fls/store/batcher.h"
#include "fls/store/event_repository.h"

namespace fls {

struct CommitterOptions {
  std::size_t lanes = 2;  // database sessions committing side by side
  // With nothing to commit for this long, each lane checks that the database takes writes,
  // so readiness follows the database while idle.
  std::chrono::milliseconds idle_check_interval{5000};
};

struct CommitStats {
  std::uint64_t events_stored = 0;
  std::uint64_t batches_closed = 0;
  std::uint64_t batches_acknowledged = 0;
  std::uint64_t commits = 0;
  std::uint64_t commit_failures = 0;
  bool database_ok = true;
  LatencyHistogram commit_seconds;  // committed groups, first statement to COMMIT (with the wait for the one before)
};

class CommitListener {
 public:
  virtual ~CommitListener() = default;
  // On a lane thread once `group` is committed (and counted in the stats), before any later
  // group's commit is: in commit order, never two at once.
  virtual void committed(PendingCommit& group) = 0;
  // On a lane thread: a lane is free again (after committed()).
  virtual void lane_freed() = 0;
};

class CommitterLanes {
 public:
  CommitterLanes(EventRepository& repository, CommitListener& listener, CommitterOptions options);
  // Abandons the lanes and joins them.
  ~CommitterLanes();
  CommitterLanes(const CommitterLanes&) = delete;
  CommitterLanes& operator=(const CommitterLanes&) = delete;

  // Opens a session per lane and starts the lanes.
  void start();

  // For the one submitting thread. Hands a group over; a lane must be free.
  void submit(PendingCommit group);
  bool all_busy() const;  // as many groups in flight as lanes
  bool idle() const;      // nothing in flight
  // These wait until a lane is free / every submitted group is committed, or the lanes are abandoned.
  void wait_for_free_lane();
  void wait_all_committed();

  // From now on no idle checks: a database that does not answer must not hold a stop up.
  void stop_idle_checks();
  // The lanes end once every submitted group is committed; waits for them.
  void finish();
  // Every wait ends at once and the lanes end at their next step, leaving what is in flight.
  void abandon();
  bool abandoned() const { return abandon_; }
  // For waits elsewhere that should end when the lanes are abandoned.
  const std::atomic<bool>& abandon_flag() const { return abandon_; }
  // Waits for the lane threads (after finish() or abandon()).
  void join();

  // Thread-safe.
  CommitStats stats() const;

 private:
  struct InFlight {
    PendingCommit pending;
    std::uint64_t serial;  // commit order
    bool claimed = false;  // a lane is on it
  };
  void run_lane(GroupSession& session);
  InFlight* first_unclaimed();  // mutex_ held
  void check_database(GroupSession& session);
  // Writes and commits the group when its turn comes, retrying until it is committed. False
  // if the lanes were abandoned first.
  bool commit_in_order(GroupSession& session, InFlight& entry);
  // Waits until every group before `serial` is committed. False if abandoned.
  bool wait_turn(std::uint64_t serial);
  bool is_turn(std::uint64_t serial) const;
  void count_commit(const CommitGroup& group, double seconds);

  EventRepository& repository_;
  CommitListener& listener_;
  const CommitterOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<InFlight> in_flight_;  // submitted, not yet committed, oldest first
  std::uint64_t submitted_ = 0;     // serials handed out
  std::uint64_t turn_ = 0;          // the serial to commit next: every group before it is committed and handed on
  bool finish_ = false;
  bool no_idle_checks_ = false;
  CommitStats stats_;
  std::atomic<bool> abandon_{false};  // set under mutex_, read without it

  std::vector<std::unique_ptr<GroupSession>> sessions_;
  std::vector<std::thread> lanes_;
};

}  // namespace fls
