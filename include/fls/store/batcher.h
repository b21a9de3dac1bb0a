#pragma once
// The event writer's decisions, without threads or a database: received messages become
// signed events in signed batches, gathered into commit groups. Sequence numbers, row and
// batch signatures, batch boundaries and when a group is due are decided here, one input at a
// time, so they need no locks. Single-threaded (the writer thread); time comes from the
// injected clocks.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/handover/batch_sink.h"
#include "fls/handover/message_queue.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/registration.h"
#include "fls/signing/row_signer.h"
#include "fls/store/event_repository.h"

namespace fls {

struct BatcherOptions {
  std::string service_name;
  std::size_t batch_size = 64;
  std::chrono::milliseconds batch_interval{300'000};
  std::size_t max_rows_per_commit = 4096;
  // How long a group that is not full may wait for more rows, even with a lane free, counted
  // from when it stopped being empty: fewer, larger transactions under light load, for that
  // much latency. It applies to every group, also one of acknowledgements or of a batch closed
  // by the time interval; never while the writer drains or stops.
  std::chrono::milliseconds max_commit_delay{0};
};

// A commit group on its way to the database, with what is due once it is committed.
struct PendingCommit {
  CommitGroup group;
  std::size_t bytes = 0;             // payload bytes the intake queue holds for it
  std::string sidecar_id;            // the registration that signed it
  std::vector<BatchToSend> to_send;  // the batches it closes
  // A registration's first group: its sidecar id and every batch it must deliver.
  std::optional<std::pair<std::string, std::vector<BatchToSend>>> registration_to_send;
};

class Batcher {
 public:
  Batcher(const Clock& clock, const SteadyClock& steady, IdSource& ids, BatcherOptions options);

  // True once a registration gave keys to sign with.
  bool registered() const { return current_.has_value(); }

  // A registration whose challenge passed: events from now on are signed with its keys. What
  // the previous one left open, and every batch the KMS has not confirmed (`unfinished`, read
  // after every earlier group was committed), is closed or signed again with the new batch
  // key, because the KMS checks a batch's signature against the registration that delivers
  // it. Rows keep their original keyId and row signature: the KMS holds every registration's
  // row key. The group being built must be empty; returns the registration's first group.
  PendingCommit adopt(Registration registration, UnfinishedBatches unfinished);

  // Rows the group being built may still take; 0 when it is full.
  std::size_t room() const;
  // Needs a registration: the message becomes the next event of the open batch (opened if
  // there is none), which is closed once it holds batch_size rows.
  void add(ReceivedMessage& message);
  // The KMS confirmed this batch; recorded by the group being built.
  void acknowledge(std::string batch_id);

  bool has_open_batch() const { return open_.has_value(); }
  // When the open batch is closed even if it is not full.
  std::chrono::steady_clock::time_point batch_deadline() const { return batch_deadline_; }
  // Closes the open batch if it has reached its deadline.
  void close_batch_if_due();
  // Closes the open batch, if any, and restarts the batch interval.
  void close_open_batch();

  bool group_empty() const { return building_.group.empty(); }
  bool group_full() const { return building_.group.events.size() >= options_.max_rows_per_commit; }
  // When the group being built must go even if it is not full: max_commit_delay after it
  // stopped being empty. Only while it is not empty.
  std::chrono::steady_clock::time_point group_due() const { return *building_since_ + options_.max_commit_delay; }
  // Hands the group being built over and starts the next one. The batch it leaves open has its
  // row written by this group: a later group that closes it changes that row.
  PendingCommit take_group();

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
  // The group being built is no longer empty: its delay starts.
  void mark_building() {
    if (!building_since_) building_since_ = steady_.now();
  }

  const Clock& clock_;
  const SteadyClock& steady_;
  IdSource& ids_;
  BatcherOptions options_;

  std::optional<Current> current_;
  std::optional<Open> open_;
  PendingCommit building_;                                               // the next group
  std::optional<std::chrono::steady_clock::time_point> building_since_;  // when it stopped being empty
  std::chrono::steady_clock::time_point batch_deadline_;
};

}  // namespace fls
