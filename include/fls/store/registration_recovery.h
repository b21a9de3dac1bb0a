#pragma once
// The recovery step after a registration: reading what the database holds unfinished (batches
// left open, closed batches the KMS has not confirmed), for the new registration to close and
// sign again (Batcher::adopt). Runs on the writer thread while nothing is in flight, so the
// rows it reads are every earlier group's.
#include <atomic>
#include <optional>

#include "fls/store/event_repository.h"

namespace fls {

// Retries with backoff while the database fails, logging each failure; nullopt if `abandon`
// becomes true first.
std::optional<UnfinishedBatches> read_unfinished_batches(EventRepository& repository, const std::atomic<bool>& abandon);

}  // namespace fls
