#include "fls/store/registration_recovery.h"

#include <spdlog/spdlog.h>

#include "fls/common/backoff.h"

namespace fls {

std::optional<UnfinishedBatches> read_unfinished_batches(EventRepository& repository,
                                                         const std::atomic<bool>& abandon) {
  Backoff backoff;
  for (;;) {
    try {
      UnfinishedBatches unfinished;
      unfinished.unacknowledged = repository.unacknowledged_batches();
      unfinished.open = repository.open_batches();
      return unfinished;
    } catch (const std::exception& e) {
      const auto delay = backoff.next();
      spdlog::error("event writer: cannot read unfinished batches, retrying in {} ms: {}", delay.count(), e.what());
      sleep_unless_stopping(delay, abandon);
      if (abandon) return std::nullopt;
    }
  }
}

}  // namespace fls
