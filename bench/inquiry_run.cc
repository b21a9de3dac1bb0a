#include "inquiry_run.h"

#include <libpq-fe.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "admin_client.h"
#include "fls/common/iso_time.h"
#include "test_database.h"

namespace flsbench {
namespace {

using fls::test::TestDatabase;
using Json = nlohmann::json;

constexpr const char* kService = "fls-bench";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs `COPY (query) TO STDOUT` on its own connection and reads every byte, as a client that
// wanted the rows would; returns how many bytes came.
long long copy_out(const std::string& uri, const std::string& query) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(uri.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw Failure(std::string("reference read: ") + PQerrorMessage(conn.get()));
  const std::string sql = "COPY (" + query + ") TO STDOUT";
  PGresult* started = PQexec(conn.get(), sql.c_str());
  const ExecStatusType status = PQresultStatus(started);
  PQclear(started);
  if (status != PGRES_COPY_OUT) throw Failure(std::string("reference read: ") + PQerrorMessage(conn.get()));
  long long bytes = 0;
  char* buffer = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(conn.get(), &buffer, 0)) > 0) {
    bytes += n;
    PQfreemem(buffer);
  }
  if (n == -2) throw Failure(std::string("reference read: ") + PQerrorMessage(conn.get()));
  bool ok = true;
  while (PGresult* result = PQgetResult(conn.get())) {
    ok = ok && PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
  }
  if (!ok) throw Failure(std::string("reference read: ") + PQerrorMessage(conn.get()));
  return bytes;
}

struct InquiryResult {
  long long rows = 0, batches = 0;
  double load_s = NAN, reference_s = NAN, reference_batches_s = NAN, reference_events_s = NAN, reference_mb = NAN;
  double verdict_s = NAN, polls = 0, last_poll_s = NAN, verdict_mb = NAN;
  double kms_rss_mib = NAN, sidecar_rss_mib = NAN, kms_idle_mib = NAN, sidecar_idle_mib = NAN;
  double kms_cpu_s = NAN, sidecar_cpu_s = NAN;
  std::string status;
  bool verified = false;
  long long total = -1, completed = -1, rows_verified = -1, missing = -1, unknown = -1, gaps = -1, unanswered = -1;
  std::string note;
  bool complete = false;
};

double cpu_seconds(long long before, long long after) {
  if (before < 0 || after < 0) return NAN;
  return static_cast<double>(after - before) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long long count_of(const Json& verdict, const char* name) {
  const auto it = verdict.find(name);
  return it != verdict.end() && it->is_array() ? static_cast<long long>(it->size()) : -1;
}

// The verdict's figures: from its "progress" object where the KMS gives one, else summed over
// the results it lists.
void read_verdict(const std::string& body, InquiryResult& r) {
  const Json verdict = Json::parse(body, nullptr, false);
  if (!verdict.is_object()) {
    r.note += "the verdict is not a JSON object; ";
    return;
  }
  r.status = verdict.value("status", "");
  r.verified = verdict.value("verified", false);
  r.total = verdict.value("total", -1LL);
  r.completed = verdict.value("completed", -1LL);
  r.missing = count_of(verdict, "missing");
  r.unknown = count_of(verdict, "unknown");
  r.gaps = count_of(verdict, "gaps");
  r.unanswered = count_of(verdict, "unanswered");
  if (const auto progress = verdict.find("progress"); progress != verdict.end() && progress->is_object()) {
    r.rows_verified = progress->value("rowsVerified", -1LL);
  } else if (const auto results = verdict.find("results"); results != verdict.end() && results->is_array()) {
    r.rows_verified = 0;
    for (const auto& result : *results) r.rows_verified += result.value("rowsVerified", 0LL);
  }
}

InquiryResult run(const InquiryRunOptions& o, const std::string& admin_uri, const std::string& tmp_dir) {
  InquiryResult r;
  const RunSpec& spec = o.load;
  r.rows = spec.total();
  const std::string prefix = "fls_bench_" + std::to_string(getpid()) + "_inquiry";
  TestDatabase sidecar_db(admin_uri, prefix + "_sidecar");
  TestDatabase kms_db(admin_uri, prefix + "_kms");
  // Complete means every batch answered, not the KMS giving up waiting.
  Services services(sidecar_db.uri(), kms_db.uri(), spec.batch_size, spec.size, spec.connections, tmp_dir + "/inquiry-",
                    {{"KMS_INQUIRY_TIMEOUT", std::to_string(o.verdict_bound.count())}});
  const pid_t kms_pid = services.kms->pid(), sidecar_pid = services.sidecar->pid();

  // Loading, within a window that has a second to spare at either end.
  const std::string start_time = fls::format_iso_millis(wall_ms() - 1000);
  std::cout << "  loading " << r.rows << " rows through the sidecar" << std::endl;
  {
    pqxx::connection poll_conn(sidecar_db.uri());
    pqxx::nontransaction poll(poll_conn);
    LoadWriters writers(spec, services.intake_port);
    const auto t0 = Clock::now();
    writers.start();
    const CommitWait committed = wait_all_committed(services, writers, poll, t0, o.load_poll, false);
    r.note += committed.note;
    writers.join();
    const auto acknowledged = wait_all_acknowledged(services, poll, committed.committed, o.load_poll);
    r.load_s = seconds(acknowledged - t0);
    r.batches = scalar(poll, "SELECT count(*) FROM batches");
  }
  std::this_thread::sleep_for(1000ms);  // the window's end lies after the last batch's receipt, on either clock
  const std::string end_time = fls::format_iso_millis(wall_ms());

  // The reference: PostgreSQL handing out the window's batch documents and rows.
  std::cout << "  reading the window back with COPY (the reference)" << std::endl;
  {
    const std::string window = " b.data IS NOT NULL AND b.created BETWEEN '" + start_time + "' AND '" + end_time + "'";
    const auto t0 = Clock::now();
    long long bytes = copy_out(sidecar_db.uri(), "SELECT b.batch_id, b.data, b.signature FROM batches b WHERE" +
                                                     window + " ORDER BY b.created, b.batch_id");
    const auto t1 = Clock::now();
    bytes += copy_out(sidecar_db.uri(),
                      "SELECT e.batch_id, e.sidecar_id, e.sequence, e.message, e.signature, e.created FROM events e "
                      "JOIN batches b ON b.batch_id = e.batch_id WHERE" +
                          window + " ORDER BY e.batch_id, e.sequence");
    const auto t2 = Clock::now();
    r.reference_batches_s = seconds(t1 - t0);
    r.reference_events_s = seconds(t2 - t1);
    r.reference_s = seconds(t2 - t0);
    r.reference_mb = static_cast<double>(bytes) / 1e6;
  }

  // The inquiry, polled until its verdict is complete.
  std::cout << "  inquiry over " << start_time << " .. " << end_time << std::endl;
  r.kms_idle_mib = mib(read_status_kib(kms_pid, "VmRSS"));
  r.sidecar_idle_mib = mib(read_status_kib(sidecar_pid, "VmRSS"));
  const long long kms_cpu_before = read_cpu_ticks(kms_pid), sidecar_cpu_before = read_cpu_ticks(sidecar_pid);
  RssSampler kms_rss(kms_pid), sidecar_rss(sidecar_pid);
  const std::string request = Json{{"service", kService}, {"startTime", start_time}, {"endTime", end_time}}.dump();
  const auto t_post = Clock::now();
  const fls::test::HttpResult posted = fls::test::http_request(services.kms_port, "POST", "/inquiry", request);
  if (posted.status != 201 || posted.headers.count("location") == 0) {
    throw Failure("POST /inquiry answered " + std::to_string(posted.status) + ": " + posted.body);
  }
  const std::string location = posted.headers.at("location");
  std::string verdict;
  auto next = Clock::now();
  while (true) {
    check_interrupted();
    if (!services.kms->running()) throw Failure("fls-kms exited during the inquiry:\n" + log_tail(*services.kms));
    const auto remaining =
        o.verdict_bound - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_post);
    if (remaining <= 0ms) {
      throw Failure("no complete verdict within " + std::to_string(o.verdict_bound.count() / 1000) + " s");
    }
    const auto poll_started = Clock::now();
    fls::test::HttpResult got =
        fls::test::http_request(services.kms_port, "GET", location, {}, {}, remaining, 8ULL << 30);
    const auto now = Clock::now();
    ++r.polls;
    r.last_poll_s = seconds(now - poll_started);
    if (got.status != 200)
      throw Failure("GET " + location + " answered " + std::to_string(got.status) + ": " + got.body);
    // "status" is the verdict's first member: a large verdict need not be parsed to see it.
    if (got.body.rfind("{\"status\":\"complete\"", 0) == 0) {
      r.verdict_s = seconds(now - t_post);
      verdict = std::move(got.body);
      break;
    }
    next = std::max(next + o.poll_interval, Clock::now());
    std::this_thread::sleep_until(next);
  }
  r.kms_cpu_s = cpu_seconds(kms_cpu_before, read_cpu_ticks(kms_pid));
  r.sidecar_cpu_s = cpu_seconds(sidecar_cpu_before, read_cpu_ticks(sidecar_pid));
  r.kms_rss_mib = mib(kms_rss.stop());
  r.sidecar_rss_mib = mib(sidecar_rss.stop());
  r.verdict_mb = static_cast<double>(verdict.size()) / 1e6;
  read_verdict(verdict, r);

  std::string wrong;
  if (!r.verified) wrong += "the verdict is not verified; ";
  if (r.total != r.batches)
    wrong += "total " + std::to_string(r.total) + " != " + std::to_string(r.batches) + " batches; ";
  if (r.completed != r.batches) wrong += "completed " + std::to_string(r.completed) + " != batches; ";
  if (r.rows_verified != r.rows) wrong += "rows verified " + std::to_string(r.rows_verified) + "; ";
  r.note += wrong;
  r.complete = wrong.empty();
  services.stop();
  return r;
}

}  // namespace

int run_inquiry_bench(const InquiryRunOptions& options, const std::string& admin_uri, const std::string& tmp_dir) {
  const RunSpec& spec = options.load;
  std::cout << "\ninquiry run: C=" << spec.connections << " M=" << spec.messages << " S=" << spec.size
            << " batch=" << spec.batch_size << " (" << spec.total() << " rows), GET /inquiry/{id} every "
            << options.poll_interval.count() << " ms" << std::endl;
  InquiryResult r;
  try {
    r = run(options, admin_uri, tmp_dir);
  } catch (const std::exception& e) {
    r.complete = false;
    r.note += e.what();
  }
  if (!std::isnan(r.verdict_s)) {
    std::cout << "  loaded " << r.rows << " rows in " << r.batches << " batches in " << fixed(r.load_s, 1)
              << " s (stored and acknowledged)\n"
              << "  reference: COPY of the window's batch documents " << fixed(r.reference_batches_s, 2)
              << " s and rows " << fixed(r.reference_events_s, 2) << " s (" << fixed(r.reference_mb, 1) << " MB)\n"
              << "  verdict after " << fixed(r.verdict_s, 2) << " s (" << fixed(r.polls, 0) << " polls, the last took "
              << fixed(r.last_poll_s, 2) << " s and returned " << fixed(r.verdict_mb, 1) << " MB): status " << r.status
              << ", verified " << (r.verified ? "true" : "false") << ", total " << r.total << ", completed "
              << r.completed << ", rows verified " << r.rows_verified << ", missing " << r.missing << ", unknown "
              << r.unknown << ", gaps " << r.gaps << ", unanswered " << r.unanswered << "\n"
              << "  during the inquiry: fls-kms CPU " << fixed(r.kms_cpu_s, 2) << " s, RSS " << fixed(r.kms_idle_mib, 1)
              << " -> peak " << fixed(r.kms_rss_mib, 1) << " MiB; sidecar CPU " << fixed(r.sidecar_cpu_s, 2)
              << " s, RSS " << fixed(r.sidecar_idle_mib, 1) << " -> peak " << fixed(r.sidecar_rss_mib, 1) << " MiB\n";
  }
  std::cout << "  " << (r.complete ? "complete" : "INCOMPLETE") << (r.note.empty() ? "" : ": " + r.note) << "\n\n";
  print_table({"rows", "batches", "load s", "reference s", "verdict s", "rows/s verified", "verdict/reference",
               "fls-kms peak RSS MiB", "sidecar peak RSS MiB", "complete"},
              {{std::to_string(r.rows), std::to_string(r.batches), fixed(r.load_s, 1), fixed(r.reference_s, 2),
                fixed(r.verdict_s, 2), fixed(static_cast<double>(r.rows) / r.verdict_s, 0),
                fixed(r.verdict_s / r.reference_s, 2), fixed(r.kms_rss_mib, 1), fixed(r.sidecar_rss_mib, 1),
                r.complete ? "yes" : "NO"}});
  std::cout << "\nreference s: COPY (SELECT ...) TO STDOUT of the window's batch documents and rows from the sidecar's "
               "database;\nverdict s: POST /inquiry -> the first GET /inquiry/{id} that answered status complete.\n";
  return r.complete ? 0 : 1;
}

}  // namespace flsbench
