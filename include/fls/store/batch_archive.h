#pragma once
// Reading stored batches back for a KMS inquiry (protocol.md §4).
#include <cstdint>
#include <optional>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "fls/common/iso_time.h"

namespace fls {

struct ArchivedBatch {
  std::string batch_id;
  std::string data;
  std::int64_t created_us;  // keyset cursor for the next page
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

}  // namespace fls
