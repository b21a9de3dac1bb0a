#include "fls/kms_server/inquiry_db.h"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <tuple>

#include "fls/kms_server/admin_api.h"
#include "fls/pg/pg_sql.h"

namespace fls::kms {
namespace {

// A response stored before outcomes were (by an earlier fls-kms) has none: it shows as a result
// that did not verify, saying why.
constexpr const char* kNoOutcome = "stored by an earlier version of fls-kms without its verification; ask again";

// PostgreSQL text cannot hold NUL characters; a body that has them is kept with each replaced
// (its verification ran on the body as it came, which no sidecar writes with raw NULs).
std::string storable(std::string text) {
  for (auto at = text.find('\0'); at != std::string::npos; at = text.find('\0', at))
    text.replace(at, 1, "\xEF\xBF\xBD");
  return text;
}

const char* or_null(const std::optional<std::string>& text) { return text ? text->c_str() : nullptr; }

std::vector<std::string> problems_from(const pqxx::field& field) {
  std::vector<std::string> out;
  if (field.is_null()) return out;
  const auto parsed = nlohmann::json::parse(field.c_str(), nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& p : parsed)
    if (p.is_string()) out.push_back(p.get<std::string>());
  return out;
}

// Which responses count as results, and which can only be their sender's problems.
constexpr const char* kResult = " problem IS NULL AND batch_id IS NOT NULL";

}  // namespace

std::vector<HeldBatch> held_batches(pqxx::connection& c, const std::vector<std::string>& batch_ids) {
  pqxx::read_transaction tx(c);
  std::vector<HeldBatch> out;
  for (const auto& row : tx.exec_params("SELECT b.batch_id, b.sidecar_id, b.signature, " FLS_SQL_TO_MILLIS(
                                            "b.received") ", b.scope, s.service_name FROM kms_batches b "
                                                          "JOIN kms_sidecars s USING (sidecar_id) "
                                                          "WHERE b.batch_id = ANY ($1::uuid[])",
                                        uuid_array_literal(batch_ids))) {
    out.push_back(HeldBatch{KnownBatch{row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].as<EpochMillis>()},
                            row[4].c_str(), row[5].c_str()});
  }
  return out;
}

const KnownBatch* batch_for(const std::vector<HeldBatch>& held, const std::string& batch_id,
                            const SenderScope& sender) {
  const KnownBatch* open = nullptr;
  for (const auto& h : held) {
    if (h.batch.batch_id != batch_id) continue;
    if (h.scope == sender.scope) return &h.batch;
    if (h.scope == kOpenScope && h.service_name == sender.service_name) open = &h.batch;
  }
  return open;
}

void insert_inquiry_responses(pqxx::connection& c, const std::vector<VerifiedResponse>& responses) {
  pqxx::work tx(c);
  {
    pqxx::stream_to out(
        tx, "kms_inquiry_responses",
        std::vector<std::string>{"inquiry_id", "sidecar_id", "batch_id", "body", "total", "item", "problem", "arrival",
                                 "verified", "delivered_by", "rows", "rows_verified", "problems"});
    for (const auto& r : responses) {
      const InquiryResponseRow& row = r.row;
      const std::optional<std::string> body = row.batch_id ? std::optional(storable(row.body)) : std::nullopt;
      std::optional<std::string> verified, delivered_by, rows, rows_verified, problems;
      if (r.verdict) {
        verified = r.verdict->verified ? "true" : "false";
        delivered_by = r.verdict->sidecar_id;
        rows = std::to_string(r.verdict->rows);
        rows_verified = std::to_string(r.verdict->rows_verified);
        problems = dump(nlohmann::ordered_json(r.verdict->problems));
      }
      out << std::make_tuple(r.inquiry_id, row.sidecar_id, or_null(row.batch_id), or_null(body), row.total, row.item,
                             or_null(row.problem), row.arrival, or_null(verified), or_null(delivered_by), or_null(rows),
                             or_null(rows_verified), or_null(problems));
    }
    out.complete();
  }
  {
    pqxx::stream_to out(tx, "kms_inquiry_sequences",
                        std::vector<std::string>{"inquiry_id", "key_id", "first_sequence", "last_sequence"});
    for (const auto& r : responses) {
      if (!r.verdict) continue;
      for (const auto& run : sequence_runs(r.verdict->row_keys)) {
        out << std::make_tuple(r.inquiry_id, run.key_id, run.first, run.last);
      }
    }
    out.complete();
  }
  tx.commit();
}

std::optional<InquiryReport> read_inquiry_report(pqxx::connection& c, const std::string& inquiry_id, EpochMillis now,
                                                 std::chrono::milliseconds timeout, std::size_t offset,
                                                 std::size_t limit) {
  // One snapshot for every part, so the counts, the lists and the page agree.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
  const auto inquiry = tx.exec_params(
      "SELECT completed IS NOT NULL, " FLS_SQL_TO_MILLIS("created") " FROM kms_inquiries WHERE inquiry_id = $1",
      inquiry_id);
  if (inquiry.empty()) return std::nullopt;
  InquiryReport report;
  report.complete = inquiry[0][0].as<bool>() || now >= inquiry[0][1].as<EpochMillis>() + timeout.count();

  const auto counts =
      tx.exec_params1(std::string("SELECT count(*), count(*) FILTER (WHERE") + kResult + "), count(*) FILTER (WHERE" +
                          kResult + " AND verified IS NOT TRUE), coalesce(sum(rows) FILTER (WHERE" + kResult +
                          "), 0), coalesce(sum(rows_verified) FILTER (WHERE" + kResult +
                          "), 0) FROM kms_inquiry_responses WHERE inquiry_id = $1",
                      inquiry_id);
  report.progress.responses = counts[0].as<std::int64_t>();
  report.completed = counts[1].as<std::int64_t>();
  report.progress.results_failed = counts[2].as<std::int64_t>();
  report.progress.rows = counts[3].as<std::int64_t>();
  report.progress.rows_verified = counts[4].as<std::int64_t>();
  report.status = inquiry_status(report.complete, report.progress.responses > 0);

  // Each asked sidecar, in the order asked: the total it announced, and whether its answer is
  // whole (items 1..total, or its one "total 0"; what counted already agrees on the total and
  // repeats no item).
  for (const auto& row : tx.exec_params(
           "SELECT a.sidecar_id, coalesce(r.total, 0), coalesce(r.whole, false) "
           "FROM kms_inquiries i CROSS JOIN LATERAL unnest(i.asked) WITH ORDINALITY AS a(sidecar_id, position) "
           "LEFT JOIN (SELECT sidecar_id, max(total) AS total, "
           "  bool_or(batch_id IS NULL) OR (max(total) > 0 AND count(batch_id) = max(total)) AS whole "
           "  FROM kms_inquiry_responses WHERE inquiry_id = $1 AND problem IS NULL GROUP BY sidecar_id) r "
           "ON r.sidecar_id = a.sidecar_id "
           "WHERE i.inquiry_id = $1 ORDER BY a.position",
           inquiry_id)) {
    report.total += row[1].as<std::int64_t>();
    if (!row[2].as<bool>()) report.summary.unanswered.push_back(row[0].c_str());
  }

  // Received from the service's sidecars within the window, and returned by no result.
  for (const auto& row :
       tx.exec_params("SELECT b.batch_id FROM kms_inquiries i "
                      "JOIN kms_sidecars s ON s.service_name = i.service_name "
                      "JOIN kms_batches b ON b.sidecar_id = s.sidecar_id AND b.received BETWEEN i.start_time AND "
                      "i.end_time "
                      "WHERE i.inquiry_id = $1 AND NOT EXISTS (SELECT 1 FROM kms_inquiry_responses r "
                      "  WHERE r.inquiry_id = $1 AND r.batch_id = b.batch_id AND r.problem IS NULL) "
                      "GROUP BY b.batch_id ORDER BY min(b.received), b.batch_id",
                      inquiry_id)) {
    report.summary.missing.push_back(row[0].c_str());
  }

  for (const auto& row : tx.exec_params(std::string("SELECT batch_id FROM kms_inquiry_responses WHERE inquiry_id = $1 "
                                                    "AND") +
                                            kResult +
                                            " AND verified IS NOT NULL AND delivered_by IS NULL "
                                            "GROUP BY batch_id ORDER BY min(arrival), batch_id",
                                        inquiry_id)) {
    report.summary.unknown.push_back(row[0].c_str());
  }

  // A hole between runs of one keyId: the next run starts beyond everything before it, plus one.
  // (numeric: no overflow at the ends of bigint.)
  for (const auto& row :
       tx.exec_params("SELECT key_id, after, first_sequence FROM ("
                      "  SELECT key_id, first_sequence, max(last_sequence) OVER (PARTITION BY key_id "
                      "    ORDER BY first_sequence, last_sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
                      "    AS after "
                      "  FROM kms_inquiry_sequences WHERE inquiry_id = $1) runs "
                      "WHERE first_sequence::numeric > after::numeric + 1 ORDER BY key_id COLLATE \"C\", after",
                      inquiry_id)) {
    report.summary.gaps.push_back(Gap{row[0].c_str(), row[1].as<std::int64_t>(), row[2].as<std::int64_t>()});
  }

  for (const auto& row :
       tx.exec_params("SELECT sidecar_id, batch_id, item, problem FROM kms_inquiry_responses "
                      "WHERE inquiry_id = $1 AND problem IS NOT NULL ORDER BY arrival, received, item",
                      inquiry_id)) {
    report.sender_problems.push_back(
        SenderProblem{row[0].c_str(), row[1].is_null() ? std::nullopt : std::optional<std::string>(row[1].c_str()),
                      row[2].as<std::int64_t>(), row[3].c_str()});
  }

  const auto page = tx.exec_params(std::string("SELECT batch_id, body, verified, delivered_by, sidecar_id, rows, "
                                               "rows_verified, problems FROM kms_inquiry_responses "
                                               "WHERE inquiry_id = $1 AND") +
                                       kResult + " ORDER BY arrival, received, item OFFSET $2 LIMIT $3",
                                   inquiry_id, offset, limit + 1);
  for (const auto& row : page) {
    if (report.results.size() == limit) {
      report.more_results = true;
      break;
    }
    ResultVerdict r;
    r.batch_id = row[0].c_str();
    r.body = row[1].is_null() ? std::string() : std::string(row[1].c_str());
    r.answered_by = row[4].c_str();
    if (row[2].is_null()) {
      r.problems.push_back(kNoOutcome);
    } else {
      r.verified = row[2].as<bool>();
      if (!row[3].is_null()) r.sidecar_id = row[3].c_str();
      r.rows = row[5].as<std::size_t>();
      r.rows_verified = row[6].as<std::size_t>();
      r.problems = problems_from(row[7]);
    }
    report.results.push_back(std::move(r));
  }

  report.summary.verified = report.complete && report.progress.results_failed == 0 && report.summary.missing.empty() &&
                            report.summary.unknown.empty() && report.summary.gaps.empty() &&
                            report.summary.unanswered.empty() && report.sender_problems.empty();
  return report;
}

}  // namespace fls::kms
