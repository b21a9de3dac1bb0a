#pragma once
// The KMS's judgement of inquiry responses (protocol.md §7 "Results", "missing", "gaps",
// "Summary verified"): pure functions over what the KMS received and what the sidecars
// returned, so the rules can be tested without sockets or a database.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/secret_bytes.h"

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
  // The delivering registration (lower case); nullopt when the KMS never received the batch id.
  std::optional<std::string> sidecar_id;
  std::size_t rows = 0;
  std::size_t rows_verified = 0;
  std::vector<std::string> problems;  // human-readable, batch-level first, then rows in order
  // (keyId in lower case, sequence) of every well-formed row, signature valid or not, for gaps.
  std::vector<std::pair<std::string, std::int64_t>> row_keys;
};

// Verifies one inquiry-response body. `known` is the KnownBatch with that id, or nullptr.
// Never throws on any input: everything here comes from the network.
//
// A row counts as verified only when its AES-CMAC checks out under its keyId's row key AND
// its element is byte for byte the text the sidecar writes ({"row":…,"signature":"…"} with the
// canonical JSON.stringify row), so key order, duplicate keys, escapes and spacing inside a row
// cannot differ from what was signed.
ResultVerdict verify_result(const std::string& batch_id, const std::string& body,
                            const KnownBatch* known, KeyLookup& keys);

struct Gap {
  std::string key_id;
  std::int64_t after;
  std::int64_t before;
};

struct InquirySummary {
  std::vector<std::string> missing;  // `in_window` ids no result returned, in the order given
  std::vector<std::string> unknown;  // result ids the KMS never received, result order, distinct
  std::vector<Gap> gaps;             // sorted by keyId, then `after`
  bool verified = false;             // complete, all results verified, nothing above
};

// `in_window_batch_ids`: the batches the KMS received from this service's sidecars within the
// inquiry window. All ids are compared case-insensitively and reported in lower case.
InquirySummary summarize(const std::vector<ResultVerdict>& results,
                         const std::vector<std::string>& in_window_batch_ids, bool complete);

}  // namespace fls::kms
