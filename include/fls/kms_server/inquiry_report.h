#pragma once
// An inquiry's verdict as GET /inquiry/{id} shows it (protocol.md §7): assembled from the stored
// responses, and rendered as JSON. Pure: how each result is verified is passed in, so the rules
// of progress, totals and sender problems are tested without a database.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fls/kms_server/records.h"
#include "fls/kms_server/verdict.h"

namespace fls::kms {

// A response that could not count (repeated, out of range, not whole), kept as evidence.
struct SenderProblem {
  std::string sidecar_id;
  std::optional<std::string> batch_id;
  std::int64_t item = 0;
  std::string problem;
};

struct InquiryReport {
  bool complete = false;
  std::string status;      // created, pending or complete
  std::int64_t total = 0;  // the totals the sidecars announced, summed
  std::vector<ResultVerdict> results;
  InquirySummary summary;
  std::vector<SenderProblem> sender_problems;
  std::size_t failed_results() const;
};

// Verifies one response that carries a batch, within its sender's scope.
using VerifyResponse = std::function<ResultVerdict(const InquiryResponseRow&)>;

// `complete`: the inquiry finished or timed out. `in_window`: the batch ids the KMS received from
// the service's sidecars within the window.
InquiryReport build_report(const InquiryRow& inquiry, const std::vector<InquiryResponseRow>& responses, bool complete,
                           const VerifyResponse& verify, const std::vector<std::string>& in_window);

std::string render_report(const InquiryReport& report);

}  // namespace fls::kms
