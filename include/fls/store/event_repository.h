#pragma once
// What the event writer needs from the database, as one interface so the writer's logic
// (sequences, signing, batching, recovery) can be tested without PostgreSQL.
#include <cstdint>
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
// duplicated (see EventRepository::commit).
struct CommitGroup {
  std::optional<SidecarRecord> sidecar;   // a new registration
  std::vector<BatchRecord> new_batches;   // first written now: open, or already closed
  std::vector<EventRecord> events;
  std::vector<BatchRecord> closed_batches;  // written earlier while open, closed now
  std::vector<BatchRecord> resigned_batches;  // closed earlier, signed again for a new registration
  std::vector<std::string> acknowledged;    // batch ids the KMS confirmed

  bool empty() const {
    return !sidecar && new_batches.empty() && events.empty() && closed_batches.empty() &&
           resigned_batches.empty() && acknowledged.empty();
  }
};

// A batch left open by an earlier run (or an earlier registration), with its rows rebuilt.
struct OpenBatch {
  std::string batch_id;
  std::vector<SignedRow> rows;
};

class EventRepository {
 public:
  virtual ~EventRepository() = default;

  // Writes the group in one transaction. Throws on failure; the caller retries the same
  // group, and a group whose earlier attempt did commit (the reply was lost) is recognised
  // and not written twice.
  virtual void commit(const CommitGroup& group) = 0;

  // Throws unless the database takes writes (reachable, and not a read-only standby). The
  // writer calls it when it has had nothing to commit for a while, so that readiness reports
  // an outage even when no messages arrive.
  virtual void check_writable() = 0;

  // Batches left open, oldest first, with their events' signed rows in sequence order.
  virtual std::vector<OpenBatch> open_batches() = 0;
  // Closed batches the KMS has not confirmed, oldest first.
  virtual std::vector<BatchRecord> unacknowledged_batches() = 0;
};

}  // namespace fls
