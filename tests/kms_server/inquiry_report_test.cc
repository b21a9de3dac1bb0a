// An inquiry's verdict as GET /inquiry/{id} shows it (protocol.md §7): progress, totals, sender
// problems and unanswered sidecars from the stored responses, and the JSON's exact fields. The
// verification of each result is its own unit (verdict_test.cc); here it is given.
#include "fls/kms_server/inquiry_report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fls::kms {
namespace {

using json = nlohmann::json;

InquiryRow inquiry(std::vector<std::string> asked) {
  return InquiryRow{"i", "ledger", Instant{0, 0}, Instant{60, 0}, 0, std::move(asked), false};
}

InquiryResponseRow item(const std::string& sidecar, const std::string& batch, std::int64_t total, std::int64_t n) {
  return InquiryResponseRow{sidecar, batch, "[]", total, n, std::nullopt};
}

// Verified when the batch id starts with "good".
ResultVerdict verify(const InquiryResponseRow& r) {
  ResultVerdict verdict;
  verdict.batch_id = *r.batch_id;
  verdict.body = r.body;
  verdict.verified = r.batch_id->rfind("good", 0) == 0;
  verdict.sidecar_id = r.sidecar_id;
  if (!verdict.verified) verdict.problems.push_back("batch signature does not match the body");
  return verdict;
}

TEST(InquiryReport, CreatedUntilTheFirstResponsePendingUntilComplete) {
  EXPECT_EQ(build_report(inquiry({"a"}), {}, false, verify, {}).status, "created");
  EXPECT_EQ(build_report(inquiry({"a"}), {item("a", "good-1", 2, 1)}, false, verify, {}).status, "pending");
  EXPECT_EQ(build_report(inquiry({"a"}), {}, true, verify, {}).status, "complete");
}

TEST(InquiryReport, TotalsAreSummedOverSidecarsAndResultsNameWhoAnswered) {
  const auto report = build_report(inquiry({"a", "b"}),
                                   {item("a", "good-1", 2, 1), item("a", "good-2", 2, 2), item("b", "good-3", 1, 1)},
                                   true, verify, {"good-1", "good-2", "good-3"});
  EXPECT_EQ(report.total, 3);
  ASSERT_EQ(report.results.size(), 3u);
  EXPECT_EQ(report.results[2].answered_by, "b");
  EXPECT_TRUE(report.summary.verified);
  EXPECT_TRUE(report.summary.unanswered.empty());
  EXPECT_EQ(report.failed_results(), 0u);
}

TEST(InquiryReport, AnAnswerThatIsNotWholeLeavesItsSidecarUnanswered) {
  const auto report = build_report(inquiry({"a", "b"}), {item("a", "good-1", 2, 1), item("b", "good-3", 1, 1)}, true,
                                   verify, {"good-1", "good-3"});
  EXPECT_EQ(report.summary.unanswered, std::vector<std::string>{"a"});
  EXPECT_FALSE(report.summary.verified);
}

TEST(InquiryReport, SenderProblemsAreNotResultsButSpoilTheVerdict) {
  auto repeated = item("a", "good-1", 1, 1);
  repeated.problem = "item 1 came twice";
  const auto report = build_report(inquiry({"a"}), {item("a", "good-1", 1, 1), repeated}, true, verify, {"good-1"});
  EXPECT_EQ(report.results.size(), 1u);
  ASSERT_EQ(report.sender_problems.size(), 1u);
  EXPECT_EQ(report.sender_problems[0].problem, "item 1 came twice");
  EXPECT_FALSE(report.summary.verified);
}

TEST(InquiryReport, FailedResultsAreCounted) {
  const auto report = build_report(inquiry({"a"}), {item("a", "bad-1", 1, 1)}, true, verify, {"bad-1"});
  EXPECT_EQ(report.failed_results(), 1u);
}

TEST(InquiryReport, RendersEveryFieldInItsOrder) {
  auto problem = item("a", "good-2", 2, 2);
  problem.problem = "total changed from 2 to 3";
  const auto report =
      build_report(inquiry({"a"}), {item("a", "good-1", 2, 1), problem}, true, verify, {"good-1", "missing-1"});
  EXPECT_EQ(render_report(report),
            R"({"status":"complete","total":2,"completed":1,"results":[{"id":"good-1","body":"[]","verified":true,)"
            R"("sidecarId":"a","answeredBy":"a","rows":0,"rowsVerified":0,"problems":[]}],"verified":false,)"
            R"("missing":["missing-1"],"unknown":[],"gaps":[],"unanswered":["a"],"senderProblems":[{"sidecarId":"a",)"
            R"("batchId":"good-2","item":2,"problem":"total changed from 2 to 3"}]})");
}

}  // namespace
}  // namespace fls::kms
