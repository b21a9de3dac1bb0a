#pragma once
// What the event writer needs from the database. Interfaces, so that tests can wrap the real
// ones to put faults in between.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/signing/documents.h"

namespace fls {

struct SidecarRecord {
  std::string sidecar_id;
  std::string service_name;
  std::string version;
  std::string batch_public_key_hex;
  EpochMillis created_ms;
};

struct EventRecord {
  std::string event_id;
  std::string sidecar_id;
  std::string batch_id;
  std::int64_t sequence;
  std::string payload;    // as received
  std::string signature;  // row signature, hex
  EpochMillis created_ms;
};

struct BatchRecord {
  std::string batch_id;
  std::string sidecar_id;
  std::string data;       // empty while open
  std::string signature;  // empty while open
  EpochMillis created_ms = 0;
};

// Everything one transaction writes. Applying the same group twice must be detected, not
// duplicated (see GroupSession::begin).
struct CommitGroup {
  std::optional<SidecarRecord> sidecar;  // a new registration
  std::vector<BatchRecord> new_batches;  // first written now: open, or already closed
  std::vector<EventRecord> events;
  std::vector<BatchRecord> closed_batches;    // written earlier while open, closed now
  std::vector<BatchRecord> resigned_batches;  // closed earlier, signed again for a new registration
  std::vector<std::string> acknowledged;      // batch ids the KMS confirmed

  bool empty() const {
    return !sidecar && new_batches.empty() && events.empty() && closed_batches.empty() && resigned_batches.empty() &&
           acknowledged.empty();
  }
};

// A batch left open by an earlier run (or an earlier registration), with its rows rebuilt.
struct OpenBatch {
  std::string batch_id;
  std::vector<SignedRow> rows;
};

// What a new registration finds unfinished in the database: it closes the open batches and
// signs the unacknowledged ones again (see registration_recovery.h and Batcher::adopt).
struct UnfinishedBatches {
  std::vector<BatchRecord> unacknowledged;  // closed, not confirmed by the KMS, oldest first
  std::vector<OpenBatch> open;              // left open, oldest first
};

// What one step of a group's transaction came to. On the data path a failure is a value, not
// an exception: the transaction is then gone, and the caller retries the group from begin().
struct GroupOutcome {
  enum class Status {
    kOpen,              // begin(): the transaction is open and holds the group's new rows
    kCommitted,         // commit(): the group is committed
    kAlreadyCommitted,  // begin(): an earlier attempt did commit (only its reply was lost)
    kFailed,            // either: the transaction is gone; `error` says why
  };
  Status status;
  std::string error;  // kFailed only

  static GroupOutcome open() { return {Status::kOpen, {}}; }
  static GroupOutcome committed() { return {Status::kCommitted, {}}; }
  static GroupOutcome already_committed() { return {Status::kAlreadyCommitted, {}}; }
  static GroupOutcome failed(std::string error) { return {Status::kFailed, std::move(error)}; }
  bool ok() const { return status != Status::kFailed; }
};

// One database connection that commits groups, one transaction each. The writer runs a few
// of them side by side: a group's rows are written while the group before it is still
// committing, and the commits themselves happen strictly in order. When begin() or commit()
// fails, the transaction is gone and the caller retries the group from begin().
class GroupSession {
 public:
  virtual ~GroupSession() = default;

  // Opens the group's transaction and adds its new rows (registration, batches first written
  // now, events): kOpen. They may name rows that an earlier, still uncommitted group adds:
  // foreign keys are checked at commit. kAlreadyCommitted if an earlier attempt of this group
  // did commit (only its reply was lost): nothing is left to do.
  virtual GroupOutcome begin(const CommitGroup& group) = 0;
  // Once every earlier group is committed, after begin() gave kOpen: changes the rows that
  // existed before the group (batches closed, signed again, acknowledged) and commits.
  virtual GroupOutcome commit(const CommitGroup& group) = 0;

  // Throws unless the database takes writes (reachable, and not a read-only standby). Called
  // when the session has had nothing to commit for a while, so that readiness reports an
  // outage even when no messages arrive; not on the data path.
  virtual void check_writable() = 0;
};

class EventRepository {
 public:
  virtual ~EventRepository() = default;

  // A new session; it connects when first used.
  virtual std::unique_ptr<GroupSession> open_session() = 0;

  // Batches left open, oldest first, with their events' signed rows in sequence order.
  virtual std::vector<OpenBatch> open_batches() = 0;
  // Closed batches the KMS has not confirmed, oldest first.
  virtual std::vector<BatchRecord> unacknowledged_batches() = 0;
};

}  // namespace fls
