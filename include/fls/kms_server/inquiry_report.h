#pragma once
// An inquiry's verdict as GET /inquiry/{id} shows it (protocol.md §7): the summary and counts over
// every stored outcome, and one page of the results. The store computes it from what it keeps;
// this renders it as JSON.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fls/kms_server/verdict.h"

namespace fls::kms {

// A response that could not count (repeated, out of range, not whole), kept as evidence.
struct SenderProblem {
  std::string sidecar_id;
  std::optional<std::string> batch_id;
  std::int64_t item = 0;
  std::string problem;
};

// How far an inquiry has come, over every stored response.
struct InquiryProgress {
  std::int64_t responses = 0;       // inquiry-responses stored, whether they count or not
  std::int64_t results_failed = 0;  // results whose verification failed
  std::int64_t rows = 0;            // rows in the results
  std::int64_t rows_verified = 0;
};

struct InquiryReport {
  bool complete = false;
  std::string status;          // created, pending or complete
  std::int64_t total = 0;      // the totals the sidecars announced, summed
  std::int64_t completed = 0;  // results: responses that carry a batch and count
  InquiryProgress progress;
  std::vector<ResultVerdict> results;  // the page asked for, in order of arrival
  bool more_results = false;           // results follow the page
  InquirySummary summary;
  std::vector<SenderProblem> sender_problems;
};

// created until the first response, then pending until complete.
const char* inquiry_status(bool complete, bool any_response);

std::string render_report(const InquiryReport& report);

}  // namespace fls::kms
