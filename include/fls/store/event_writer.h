#pragma once
// The event writer turns received messages into signed events and signed batches and commits
// them (group commit: whatever is queued, up to a row limit, per transaction). It is three
// parts on two kinds of thread:
// - the writer thread runs the Batcher (batcher.h), which decides sequence numbers,
//   signatures and batch boundaries (so they need no locks), and builds the next group while
//   the committer lanes write the previous ones, so signing never waits for the database;
// - the committer lanes (committer_lanes.h), each with a database session of its own: one lane
//   writes a group's rows while the lane before it is still committing, so the database's CPU
//   and its WAL flush overlap across groups. Commits happen strictly in submission order, and
//   a group changes rows of earlier groups (closing a batch they opened) only after those
//   groups are committed;
// - after a registration, the recovery step (registration_recovery.h) reads the unfinished
//   batches on the writer thread, once every earlier group is committed.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/handover/batch_sink.h"
#include "fls/handover/message_queue.h"
#include "fls/signing/registration.h"
#include "fls/store/batcher.h"
#include "fls/store/committer_lanes.h"
#include "fls/store/event_counter.h"
#include "fls/store/event_repository.h"

namespace fls {

// What the Batcher needs (batch size and interval, rows per commit, the commit delay), and
// the lanes.
struct EventWriterOptions : BatcherOptions {
  std::size_t committer_lanes = 2;  // database sessions committing side by side
  // With nothing to commit for this long, each lane checks that the database takes writes,
  // so readiness follows the database while idle.
  std::chrono::milliseconds idle_check_interval{5000};
};

using EventWriterStats = CommitStats;

class EventWriter final : private CommitListener {
 public:
  EventWriter(EventRepository& repository, MessageQueue& queue, const Clock& clock, IdSource& ids, BatchSink& sink,
              EventWriterOptions options);
  ~EventWriter() override;

  void start();
  // For a graceful stop, once nothing new is received: stores everything already received
  // and closes the open batch, so it can be delivered (needs a registration). False if that
  // did not finish before `deadline`.
  bool drain(std::chrono::steady_clock::time_point deadline);
  // Commits what is still pending (acknowledgements) and ends the threads. False if that did
  // not finish before `deadline` (the thread is then abandoned at its next step).
  bool stop(std::chrono::steady_clock::time_point deadline);

  // Thread-safe. A registration whose challenge passed: from now on events are signed with
  // its keys, and every batch not yet acknowledged is signed again and handed to the sink.
  void use_registration(Registration registration);
  // Thread-safe. The KMS confirmed these batches.
  void acknowledge(std::string batch_id);

  // Thread-safe: events stored under the current registration during the last hour.
  std::uint64_t events_last_hour() const { return counter_.last_hour(clock_.now_ms()); }
  EventWriterStats stats() const { return lanes_.stats(); }

 private:
  // The writer thread.
  void run();
  void take_commands();
  void adopt(Registration registration);
  void take_messages();
  void flush();  // everything built so far is committed
  std::chrono::steady_clock::time_point next_wake() const;
  void report(bool& flag);  // sets a flag drain() or stop() waits for

  // CommitListener, on the lanes' threads.
  void committed(PendingCommit& group) override;
  void lane_freed() override;

  EventRepository& repository_;
  MessageQueue& queue_;
  const Clock& clock_;
  BatchSink& sink_;
  SystemSteadyClock steady_;
  EventCounter counter_;  // thread-safe

  // Requests from other threads, and what the writer thread reports back.
  mutable std::mutex mutex_;
  std::condition_variable reported_;
  std::deque<Registration> registrations_;
  std::vector<std::string> acknowledgements_;
  bool drain_requested_ = false;
  bool stop_requested_ = false;
  bool drained_ = false;
  bool done_ = false;

  // The writer thread's own state.
  Batcher batcher_;
  std::vector<ReceivedMessage> taken_;
  std::vector<std::string> acknowledged_;
  bool draining_ = false;  // copies of the requests, taken with the commands
  bool stopping_ = false;
  std::thread thread_;

  CommitterLanes lanes_;  // last: its threads call back into the members above
};

}  // namespace fls
