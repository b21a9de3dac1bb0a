#include "fls/kms_server/inquiry_report.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "fls/kms_server/admin_api.h"

namespace fls::kms {

using ordered_json = nlohmann::ordered_json;

std::size_t InquiryReport::failed_results() const {
  return static_cast<std::size_t>(
      std::count_if(results.begin(), results.end(), [](const ResultVerdict& r) { return !r.verified; }));
}

InquiryReport build_report(const InquiryRow& inquiry, const std::vector<InquiryResponseRow>& responses, bool complete,
                           const VerifyResponse& verify, const std::vector<std::string>& in_window) {
  InquiryReport report;
  report.complete = complete;
  std::map<std::string, AnswerProgress> progress;
  for (const auto& sidecar : inquiry.asked) progress[sidecar];
  std::map<std::string, std::int64_t> totals;
  for (const auto& r : responses) {
    if (r.problem) {
      report.sender_problems.push_back(SenderProblem{r.sidecar_id, r.batch_id, r.item, *r.problem});
      continue;
    }
    progress[r.sidecar_id].add(r.total, r.item, r.batch_id.has_value());  // counted when it arrived
    totals[r.sidecar_id] = std::max(totals[r.sidecar_id], r.total);
    if (!r.batch_id) continue;
    report.results.push_back(verify(r));
    report.results.back().answered_by = r.sidecar_id;
  }
  InquiryAnswers answers;
  answers.sender_problems = report.sender_problems.size();
  for (const auto& sidecar : inquiry.asked) {
    if (!progress[sidecar].complete()) answers.unanswered.push_back(sidecar);
  }
  report.summary = summarize(report.results, in_window, complete, answers);
  for (const auto& [sidecar, total] : totals) report.total += total;
  report.status = complete ? "complete" : responses.empty() ? "created" : "pending";
  return report;
}

std::string render_report(const InquiryReport& report) {
  ordered_json out;
  out["status"] = report.status;
  out["total"] = report.total;
  out["completed"] = report.results.size();
  out["results"] = ordered_json::array();
  for (const auto& r : report.results) {
    out["results"].push_back({{"id", r.batch_id},
                              {"body", r.body},
                              {"verified", r.verified},
                              {"sidecarId", r.sidecar_id ? ordered_json(*r.sidecar_id) : ordered_json(nullptr)},
                              {"answeredBy", r.answered_by},
                              {"rows", r.rows},
                              {"rowsVerified", r.rows_verified},
                              {"problems", r.problems}});
  }
  const InquirySummary& summary = report.summary;
  out["verified"] = summary.verified;
  out["missing"] = summary.missing;
  out["unknown"] = summary.unknown;
  out["gaps"] = ordered_json::array();
  for (const auto& g : summary.gaps)
    out["gaps"].push_back({{"keyId", g.key_id}, {"after", g.after}, {"before", g.before}});
  out["unanswered"] = summary.unanswered;
  out["senderProblems"] = ordered_json::array();
  for (const auto& p : report.sender_problems) {
    out["senderProblems"].push_back({{"sidecarId", p.sidecar_id},
                                     {"batchId", p.batch_id ? ordered_json(*p.batch_id) : ordered_json(nullptr)},
                                     {"item", p.item},
                                     {"problem", p.problem}});
  }
  return dump(out);
}

}  // namespace fls::kms
