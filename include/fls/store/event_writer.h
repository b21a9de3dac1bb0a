#pragma once
// The event writer turns received messages into signed events and signed batches and commits
// them (group commit: whatever is queued, up to a row limit, per transaction). The writer
// thread decides sequence numbers, signatures and batch boundaries (so they need no locks) and
// builds the next group while committer lanes write the previous ones, so signing never waits
// for the database. Each lane has a database session of its own: one lane writes a group's
// rows while the lane before it is still committing, so the database's CPU and its WAL flush
// overlap across groups. Commits happen strictly in submission order, and a group changes rows
// of earlier groups (closing a batch they opened) only after those groups are committed.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/common/prometheus.h"
#include "fls/common/secret_bytes.h"
#include "fls/handover/batch_sink.h"
#include "fls/handover/message_queue.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/registration.h"
#include "fls/signing/row_signer.h"
#include "fls/store/event_counter.h"
#include "fls/store/event_repository.h"

namespace fls {

struct EventWriterOptions {
  std::string service_name;
  std::size_t batch_size = 64;
  std::chrono::milliseconds batch_interval{300'000};
  std::size_t max_rows_per_commit = 4096;
  std::size_t committer_lanes = 2;  // database sessions committing side by side
  // How long a group that is not full may wait for more rows, even with a lane free, counted
  // from when the writer first holds it: fewer, larger transactions under light load, for that
  // much latency. It applies to every group, also one of acknowledgements or of a batch closed
  // by the time interval; never while draining or stopping.
  std::chrono::milliseconds max_commit_delay{0};
  // With nothing to commit for this long, each lane checks that the database takes writes,
  // so readiness follows the database while idle.
  std::chrono::milliseconds idle_check_interval{5000};
};

struct EventWriterStats {
  std::uint64_t events_stored = 0;
  std::uint64_t batches_closed = 0;
  std::uint64_t batches_acknowledged = 0;
  std::uint64_t commits = 0;
  std::uint64_t commit_failures = 0;
  bool database_ok = true;
  LatencyHistogram commit_seconds;  // committed groups, first statement to COMMIT (with the wait for the one before)
};

class EventWriter {
 public:
  EventWriter(EventRepository& repository, MessageQueue& queue, const Clock& clock, IdSource& ids,
              BatchSink& sink, EventWriterOptions options);
  ~EventWriter();

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
  EventWriterStats stats() const;

 private:
  struct Current {
    std::string sidecar_id;
    RowSigner row_signer;
    BatchSigner batch_signer;
    std::int64_t next_sequence = 1;
  };
  struct Open {
    std::string batch_id;
    std::vector<SignedRow> rows;
    bool stored = false;          // its row is written by an earlier group
    std::size_t group_index = 0;  // its place in building_.group.new_batches while not stored
  };
  // A group on its way to the database, with what is due once it is committed.
  struct PendingCommit {
    CommitGroup group;
    std::size_t bytes = 0;  // payload bytes the queue holds for it
    std::string sidecar_id;
    std::vector<BatchToSend> to_send;  // the batches it closes
    std::optional<std::pair<std::string, std::vector<BatchToSend>>> registration_to_send;
  };

  void run();
  void handle_commands();
  void adopt(Registration registration);
  void take_messages();
  void append_event(ReceivedMessage& message);
  void close_open_batch();
  // Writer thread: hands the group being built to a committer lane; one must be free.
  void submit_group();
  bool all_lanes_busy() const;
  bool nothing_in_flight() const;
  // Writer thread: these wait until a lane is free / every submitted group is committed (or
  // the writer is abandoned).
  void wait_for_free_lane();
  void wait_all_committed();
  // Writer thread: everything built so far is committed.
  void flush();
  std::chrono::steady_clock::time_point next_wake() const;

  struct InFlight {
    PendingCommit pending;
    std::uint64_t serial;  // commit order
    bool claimed = false;  // a lane is on it
  };
  void run_lane(GroupSession& session);
  InFlight* first_unclaimed();  // pipeline_mutex_ held
  void check_database(GroupSession& session);
  // Lane thread: writes and commits the group when its turn comes, retrying until it is
  // committed. False if the writer was abandoned first.
  bool commit_in_order(GroupSession& session, InFlight& group);
  // Lane thread: waits until every group before `serial` is committed. False if abandoned.
  bool wait_turn(std::uint64_t serial);
  bool is_turn(std::uint64_t serial) const;
  void committed(PendingCommit& pending);

  EventRepository& repository_;
  MessageQueue& queue_;
  const Clock& clock_;
  IdSource& ids_;
  BatchSink& sink_;
  EventWriterOptions options_;

  // Commands from other threads.
  mutable std::mutex mutex_;
  std::deque<Registration> registrations_;
  std::vector<std::string> acknowledgements_;
  EventWriterStats stats_;

  // The writer thread's own state.
  std::optional<Current> current_;
  std::optional<Open> open_;
  PendingCommit building_;  // the next group
  std::optional<std::chrono::steady_clock::time_point> building_since_;  // when it stopped being empty
  std::vector<ReceivedMessage> taken_;
  std::chrono::steady_clock::time_point batch_deadline_;
  EventCounter counter_;

  // The hand-over to the committer lanes. Only lanes commit and check the database; the
  // writer reads from the repository (recovery) only while nothing is in flight.
  mutable std::mutex pipeline_mutex_;
  std::condition_variable pipeline_cv_;
  std::deque<InFlight> in_flight_;  // submitted, not yet committed, oldest first
  std::uint64_t submitted_ = 0;     // serials handed out
  std::uint64_t committed_ = 0;     // groups committed (and their results handed on), in order
  bool committer_exit_ = false;
  std::vector<std::unique_ptr<GroupSession>> sessions_;
  std::vector<std::thread> lanes_;

  std::atomic<bool> draining_{false};
  bool drained_ = false;  // guarded by done_mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abandon_{false};
  std::thread thread_;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace fls
