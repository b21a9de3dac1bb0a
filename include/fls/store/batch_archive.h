#pragma once
// Reading stored batches back for a KMS inquiry (protocol.md §4).
#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "fls/common/iso_time.h"
#include "fls/signing/documents.h"

namespace fls {

struct ArchivedBatch {
  std::string batch_id;
  std::string data;
  std::int64_t created_us;  // keyset cursor for the next page
  std::string signature;
  std::string public_key_hex;  // of the registration that signed it
};

struct BatchWindow {
  std::string service_name;
  Instant start;  // inclusive
  Instant end;    // inclusive
};

// Closed batches of every registration of the service, created within the window. Use one
// repeatable-read transaction for the count and all pages, so they agree.
std::size_t count_batches(pqxx::transaction_base& tx, const BatchWindow& window);

// The next `limit` of those batches, oldest first, after `after` (the last of the previous
// page; nullptr for the first).
std::vector<ArchivedBatch> batches_page(pqxx::transaction_base& tx, const BatchWindow& window,
                                        const ArchivedBatch* after, std::size_t limit);

// The signed rows of the given batches rebuilt from the events table, in sequence order.
std::map<std::string, std::vector<SignedRow>> rows_from_events(pqxx::transaction_base& tx,
                                                               const std::vector<std::string>& batch_ids);

// What to send the KMS for a stored batch. The data is sent as stored when the events table
// still agrees with it. When they differ, one of them was altered after signing: the one that
// no longer matches the stored signature is sent, so the KMS sees the alteration.
std::string inquiry_body(const ArchivedBatch& batch, const std::vector<SignedRow>& rows_in_events);

}  // namespace fls
