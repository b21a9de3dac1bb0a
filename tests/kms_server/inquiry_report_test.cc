// An inquiry's verdict as GET /inquiry/{id} shows it (protocol.md §7): the status rule and the
// JSON's exact fields. How the store computes the report is PgKmsStore's (pg_kms_store_test.cc);
// the verification of each result is its own unit (verdict_test.cc).
#include "fls/kms_server/inquiry_report.h"

#include <gtest/gtest.h>

namespace fls::kms {
namespace {

TEST(InquiryReport, CreatedUntilTheFirstResponsePendingUntilComplete) {
  EXPECT_STREQ(inquiry_status(false, false), "created");
  EXPECT_STREQ(inquiry_status(false, true), "pending");
  EXPECT_STREQ(inquiry_status(true, false), "complete");
  EXPECT_STREQ(inquiry_status(true, true), "complete");
}

TEST(InquiryReport, RendersEveryFieldInItsOrder) {
  InquiryReport report;
  report.status = "complete";
  report.total = 2;
  report.completed = 1;
  ResultVerdict result;
  result.batch_id = "good-1";
  result.body = "[]";
  result.verified = true;
  result.sidecar_id = "a";
  result.answered_by = "a";
  report.results.push_back(result);
  report.summary.missing = {"missing-1"};
  report.summary.gaps = {Gap{"k", 3, 5}};
  report.summary.unanswered = {"a"};
  report.sender_problems.push_back(SenderProblem{"a", "good-2", 2, "total changed from 2 to 3"});
  report.progress = InquiryProgress{2, 0, 7, 6};
  EXPECT_EQ(render_report(report),
            R"({"status":"complete","total":2,"completed":1,"results":[{"id":"good-1","body":"[]","verified":true,)"
            R"("sidecarId":"a","answeredBy":"a","rows":0,"rowsVerified":0,"problems":[]}],"verified":false,)"
            R"("missing":["missing-1"],"unknown":[],"gaps":[{"keyId":"k","after":3,"before":5}],"unanswered":["a"],)"
            R"("senderProblems":[{"sidecarId":"a","batchId":"good-2","item":2,"problem":"total changed from 2 to 3"}],)"
            R"("progress":{"responses":2,"resultsFailed":0,"rows":7,"rowsVerified":6}})");
}

}  // namespace
}  // namespace fls::kms
