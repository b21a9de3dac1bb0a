#include "fls/kms_server/inquiry_report.h"

#include <nlohmann/json.hpp>

#include "fls/kms_server/admin_api.h"

namespace fls::kms {

using ordered_json = nlohmann::ordered_json;

const char* inquiry_status(bool complete, bool any_response) {
  return complete ? "complete" : any_response ? "pending" : "created";
}

std::string render_report(const InquiryReport& report) {
  ordered_json out;
  out["status"] = report.status;
  out["total"] = report.total;
  out["completed"] = report.completed;
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
  out["progress"] = {{"responses", report.progress.responses},
                     {"resultsFailed", report.progress.results_failed},
                     {"rows", report.progress.rows},
                     {"rowsVerified", report.progress.rows_verified}};
  return dump(out);
}

}  // namespace fls::kms
