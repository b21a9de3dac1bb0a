#pragma once
// The KMS's judgement of inquiry responses (protocol.md §7 "Results", "gaps"): pure functions
// over what the KMS received and what a sidecar returned, so the rules can be tested without
// sockets or a database. The verdict over all of them is the store's, over the outcomes it keeps.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/secret_bytes.h"
#include "fls/protocol/messages.h"

namespace fls::kms {

// A `batch` the KMS received and committed.
struct KnownBatch {
  std::string batch_id;       // lower-case uuid
  std::string sidecar_id;     // the registration that delivered it
  std::string signature_hex;  // 128 hex digits, as received
  EpochMillis received_ms;
};

// One registration's verification keys (decrypted, in memory).
struct SidecarKeys {
  std::string sidecar_id;
  std::array<std::uint8_t, 32> public_key;  // ed25519 public key
  SecretBytes row_key;                      // 32 bytes, AES-256-CMAC
};

// Implemented by the server over its database or cache.
class KeyLookup {
 public:
  virtual ~KeyLookup() = default;
  // nullptr if unknown. `sidecar_id` is always passed in lower case.
  virtual const SidecarKeys* find(const std::string& sidecar_id) = 0;
};

struct ResultVerdict {
  std::string batch_id;  // lower case
  std::string body;
  bool verified = false;
  // The delivering registration (lower case); nullopt when the KMS never received the batch id
  // (from the answering registration's credential).
  std::optional<std::string> sidecar_id;
  std::string answered_by;  // the registration whose inquiry-response this was (set by the caller)
  std::size_t rows = 0;
  std::size_t rows_verified = 0;
  std::vector<std::string> problems;  // human-readable, batch-level first, then rows in order
  // (keyId in lower case, sequence) of every row whose signature checks out under its keyId's
  // row key, for gaps: an unauthenticated row must not make or hide a gap.
  std::vector<std::pair<std::string, std::int64_t>> row_keys;
};

// Verifies one inquiry-response body. `known` is the KnownBatch with that id, or nullptr.
// Never throws on any input: everything here comes from the network.
//
// A row counts as verified only when its AES-CMAC checks out under its keyId's row key AND
// its element is byte for byte the text the sidecar writes ({"row":…,"signature":"…"} with the
// canonical JSON.stringify row), so key order, duplicate keys, escapes and spacing inside a row
// cannot differ from what was signed.
ResultVerdict verify_result(const std::string& batch_id, const std::string& body, const KnownBatch* known,
                            KeyLookup& keys);

struct Gap {
  std::string key_id;
  std::int64_t after;
  std::int64_t before;
};

// Consecutive sequence numbers first..last of one keyId.
struct SequenceRun {
  std::string key_id;
  std::int64_t first;
  std::int64_t last;
};

// `row_keys` (keyId in lower case, sequence) as the fewest runs, sorted by keyId, then first.
std::vector<SequenceRun> sequence_runs(std::vector<std::pair<std::string, std::int64_t>> row_keys);

// The largest `total` an inquiry-response may announce: what the database stores, and small
// enough that totals summed over every sidecar cannot overflow.
using protocol::kMaxInquiryItems;

// One asked sidecar's inquiry-responses, in the order they arrived: whether each may count, and
// whether the answer is whole (items 1..total, or its one `total 0`). The same rules decide
// completion while an inquiry runs and `unanswered` when its verdict is read.
class AnswerProgress {
 public:
  // nullopt if the response counts; otherwise the problem it is recorded with instead.
  // `has_batch`: it carries an id and a body.
  std::optional<std::string> add(std::int64_t total, std::int64_t item, bool has_batch);
  bool complete() const;

 private:
  std::int64_t total_ = -1;      // announced by the first response that counted
  std::set<std::int64_t> seen_;  // items that arrived: grows with what arrives, not with `total`
  bool nothing_found_ = false;
};

// The verdict over every result of an inquiry (protocol.md §7; the store computes it).
struct InquirySummary {
  std::vector<std::string> missing;     // batches received within the window that no result returned, oldest first
  std::vector<std::string> unknown;     // result ids the KMS never received, in order of arrival, distinct
  std::vector<Gap> gaps;                // sorted by keyId, then `after`
  std::vector<std::string> unanswered;  // asked sidecars whose answer is not whole, in the order asked
  bool verified = false;                // complete, all results verified, nothing above, no sender problems
};

}  // namespace fls::kms
