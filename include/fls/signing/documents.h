#pragma once
// The two signed documents of protocol.md §2 and §3: the signable row and the batch data.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fls/common/clock.h"

namespace fls {

struct RowFields {
  std::string_view key_id;   // the sidecar id the row was stored under
  std::int64_t sequence;     // 1, 2, 3 ... per key_id
  std::string_view payload;  // as received; signed as decoded by append_utf8_decoded
  EpochMillis created_ms;
};

// Appends {"keyId":"…","sequence":n,"message":"…","timestamp":"…"} in that key order.
void append_signable_row(std::string& out, const RowFields& row);

struct SignedRow {
  std::string row_json;       // as written by append_signable_row
  std::string signature_hex;  // AES-CMAC of row_json, 32 lower-case hex digits
};

// [{"row":<row>,"signature":"<hex>"},…] in the given order (the rows' sequence order).
std::string make_batch_data(const std::vector<SignedRow>& rows);

}  // namespace fls
