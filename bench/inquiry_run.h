// fls-bench --inquiry: the time and memory an inquiry takes, next to what PostgreSQL alone needs
// to hand out the same rows.
#pragma once

#include <chrono>
#include <string>

#include "harness.h"

namespace flsbench {

struct InquiryRunOptions {
  RunSpec load;                             // the rows stored before the inquiry: C x M of S bytes
  std::chrono::milliseconds poll_interval;  // GET /inquiry/{id} while it runs
  std::chrono::milliseconds load_poll;      // the loading phase's polls
  std::chrono::milliseconds verdict_bound;  // give up waiting for a complete verdict
};

// One run: fresh databases, fls-kms and the sidecar; loads the rows through the sidecar, reads
// them back with COPY (the reference), then runs one inquiry over the whole window through the
// admin API and polls it to a complete verdict, sampling both processes' RSS. Prints what it
// measured; returns the exit status (0 only when the verdict is complete and verified).
int run_inquiry_bench(const InquiryRunOptions& options, const std::string& admin_uri, const std::string& tmp_dir);

}  // namespace flsbench
