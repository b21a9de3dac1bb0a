// fls-bench: measures the forensic logging sidecar end to end on one machine.
//
// For each run it creates fresh databases, starts fls-kms and the sidecar as child processes,
// drives C client connections that each write M frames of S bytes as fast as they can, and
// measures throughput (first byte sent -> last event committed), the delay until every batch
// is acknowledged by the KMS, the sidecar's RSS and CPU time. Two baselines run against a fresh
// database with the same schema: a raw COPY of the same rows, in the binary format the sidecar
// itself uses (the ceiling), and one INSERT per transaction (the naive design). It checks completeness (every event
// stored, every batch closed and acknowledged, the KMS holding as many batches as the sidecar) and exits non-zero when
// something is missing. It reports timings; it never asserts them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_util.h"
#include "child_process.h"
#include "fls/pg/migration.h"
#include "fls/pg/migrator.h"
#include "fls/pg/pq_session.h"
#include "fls/signing/documents.h"
#include "harness.h"
#include "inquiry_run.h"
#include "test_database.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fls::test::ChildProcess;
using fls::test::TestDatabase;
using namespace flsbench;

namespace {

constexpr auto kInsertBound = 120s;                // the INSERT baseline stops here (and reports what it did)
constexpr auto kCopyBound = 600s;                  // the COPY baseline fails beyond this
constexpr long long kSweepBytesCap = 100'000'000;  // total payload bytes per sweep run
constexpr long kInsertRows = 5000;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string database_uri;
  int connections = 4;
  long messages = 20000;
  long size = 256;
  int batch_size = 64;
  bool sweep = false;
  bool quick = false;
  long idle_connections = 0;
  int poll_ms = 20;
  bool poll_count = false;
  bool inquiry = false;
  int inquiry_poll_ms = 1000;
  int verdict_bound_s = 1800;
};

void usage(std::ostream& out) {
  out << "usage: fls-bench [options]\n"
         "  --database-uri URI      admin URI of a PostgreSQL cluster where databases may be created and\n"
         "                          dropped (default: FLS_TEST_DATABASE_URI if set, else a private cluster\n"
         "                          started with scripts/pg.sh in /tmp/fls-bench-pg on port 55440)\n"
         "  -c, --connections C     concurrent client connections (default 4)\n"
         "  -m, --messages M        messages per connection (default 20000)\n"
         "  -s, --size S            payload bytes per message (default 256)\n"
         "  -b, --batch-size B      SIDE_BATCH_SIZE (default 64)\n"
         "  --sweep                 C in {1,4,16,64} at S=256, then S in {64,4096,65536} at C=4;\n"
         "                          M is reduced so that a run carries at most ~100 MB of payload\n"
         "  --idle-connections N    extra run: N idle connections, report the sidecar's RSS\n"
         "  --quick                 C=2, M=2000 (CI)\n"
         "  --inquiry               instead of the throughput runs: store C x M rows through the sidecar,\n"
         "                          read them back with COPY (the reference), then run one inquiry over\n"
         "                          them through fls-kms's admin API and report the time to a complete\n"
         "                          verdict and both processes' peak RSS (fls-bench --inquiry -m 250000:\n"
         "                          a million rows)\n"
         "  --inquiry-poll-ms MS    interval of GET /inquiry/{id} while it runs (default 1000)\n"
         "  --verdict-timeout S     give up on the verdict after S seconds (default 1800)\n"
         "  --poll-ms MS            interval of the progress polls (default 20)\n"
         "  --poll-count            poll with SELECT count(*) FROM events itself (a sequential scan of the\n"
         "                          whole table each time) instead of the sidecar's events-stored counter\n"
         "                          (GET /metrics), which is confirmed by one count(*) at the end\n"
         "  -h, --help\n"
         "SIDE_* variables in the environment reach the sidecar (SIDE_STORE_CONNECTIONS=1, say), except\n"
         "those the bench sets itself (database, ports, addresses, batch size and interval, log level).\n"
         "Timings are reported, never asserted; the exit status is non-zero only when a run is\n"
         "incomplete (missing events, unacknowledged batches) or could not finish in time.\n";
}

long parse_number(const std::string& name, const std::string& text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max) {
    throw std::invalid_argument(name + " must be a whole number from " + std::to_string(min) + " to " +
                                std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      std::exit(0);
    } else if (arg == "--database-uri") {
      o.database_uri = value();
    } else if (arg == "-c" || arg == "--connections") {
      o.connections = static_cast<int>(parse_number(arg, value(), 1, 10000));
    } else if (arg == "-m" || arg == "--messages") {
      o.messages = parse_number(arg, value(), 1, 100'000'000);
    } else if (arg == "-s" || arg == "--size") {
      o.size = parse_number(arg, value(), 0, 64L << 20);
    } else if (arg == "-b" || arg == "--batch-size") {
      o.batch_size = static_cast<int>(parse_number(arg, value(), 1, 1'000'000));
    } else if (arg == "--sweep") {
      o.sweep = true;
    } else if (arg == "--quick") {
      o.quick = true;
    } else if (arg == "--idle-connections") {
      o.idle_connections = parse_number(arg, value(), 1, 100000);
    } else if (arg == "--inquiry") {
      o.inquiry = true;
    } else if (arg == "--inquiry-poll-ms") {
      o.inquiry_poll_ms = static_cast<int>(parse_number(arg, value(), 10, 60000));
    } else if (arg == "--verdict-timeout") {
      o.verdict_bound_s = static_cast<int>(parse_number(arg, value(), 1, 86400));
    } else if (arg == "--poll-count") {
      o.poll_count = true;
    } else if (arg == "--poll-ms") {
      o.poll_ms = static_cast<int>(parse_number(arg, value(), 1, 10000));
    } else {
      throw std::invalid_argument("unknown option '" + arg + "'");
    }
  }
  if (o.quick) {
    o.connections = 2;
    o.messages = 2000;
  }
  return o;
}

std::vector<RunSpec> plan_runs(const Options& o) {
  if (!o.sweep) return {{o.connections, o.messages, o.size, o.batch_size}};
  auto scaled = [&](int c, long s) {
    const long long by_bytes = kSweepBytesCap / (static_cast<long long>(c) * std::max<long>(s, 1));
    return static_cast<long>(std::max<long long>(1, std::min<long long>(o.messages, by_bytes)));
  };
  std::vector<RunSpec> runs;
  for (int c : {1, 4, 16, 64}) runs.push_back({c, scaled(c, 256), 256, o.batch_size});
  for (long s : {64L, 4096L, 65536L}) runs.push_back({4, scaled(4, s), s, o.batch_size});
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Payloads and row fields

const char kHex[] = "0123456789abcdef";

void append_hex(std::string& out, const char* data, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + 2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(data[i]);
    out[at + 2 * i] = kHex[b >> 4];
    out[at + 2 * i + 1] = kHex[b & 15];
  }
}

std::string hex64(std::uint64_t v, int digits) {
  std::string s(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kHex[v & 15];
  return s;
}

std::string uuid4(std::mt19937_64& rng) {
  std::uint64_t a = rng(), b = rng();
  a = (a & ~0xF000ULL) | 0x4000ULL;
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  const std::string h = hex64(a, 16) + hex64(b, 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2024-05-01 12:00:00.123+00": the receipt time, millisecond precision, as the sidecar stores it.
std::string now_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Databases

// ---------------------------------------------------------------------------------------------
// One run

struct RunResult {
  RunSpec spec{};
  bool complete = false;
  bool fatal = false;  // a deadline passed or a process died: later runs are skipped
  std::string note;
  double msgs_per_s = NAN, mb_per_s = NAN;
  double send_s = NAN, commit_s = NAN, ack_after_sent_s = NAN, ack_after_commit_s = NAN;
  double peak_rss_mib = NAN, idle_rss_mib = NAN, hwm_mib = NAN, cpu_s = NAN, cpu_per_100k = NAN;
  double wal_mb = NAN, events_mb = NAN, batches_mb = NAN, copy_wal_mb = NAN, copy_events_mb = NAN;
  double commits = NAN, commit_sum_s = NAN;  // from the sidecar's fls_sidecar_store_commit_seconds
  double kms_cpu_s = NAN, machine_busy_pct = NAN, load_before = NAN;
  double copy_rows_s = NAN, copy_batched_rows_s = NAN, insert_rows_s = NAN;
  long insert_rows = 0;
  long long events = -1, batches = -1, kms_batches = -1;
  int sidecar_exit = -1, kms_exit = -1;
  std::string logs;
};

// The two baselines, against a fresh database with the sidecar's schema.
void run_baselines(const std::string& uri, const RunSpec& spec, RunResult& r) {
  pqxx::connection conn(uri);
  std::mt19937_64 rng(std::random_device{}());
  const std::string sidecar_id = uuid4(rng), batch_id = uuid4(rng);
  // The sidecar's schema, applied as the sidecar applies it.
  fls::apply_migrations(conn, "sidecar_schema_migrations", fls::migrations::sidecar());
  {
    pqxx::work tx(conn);
    tx.exec("INSERT INTO sidecars (sidecar_id, service_name, version, batch_public_key, created) VALUES (" +
            tx.quote(sidecar_id) + ", 'fls-bench', 'bench', repeat('0', 64), now())");
    tx.exec("INSERT INTO batches (batch_id, sidecar_id) VALUES (" + tx.quote(batch_id) + ", " + tx.quote(sidecar_id) +
            ")");
    tx.commit();
  }
  const long long total = spec.total();
  const PayloadMaker maker(static_cast<std::size_t>(spec.size));
  std::string payload(static_cast<std::size_t>(spec.size), '\0');
  auto message_hex = [&](long long row) {
    maker.write(static_cast<int>(row / spec.messages), static_cast<long>(row % spec.messages), payload.data());
    std::string hex = "\\x";
    append_hex(hex, payload.data(), payload.size());
    return hex;
  };
  auto signature = [&] { return hex64(rng(), 16) + hex64(rng(), 16); };

  // (1) COPY: binary, exactly as the sidecar's writer sends rows (fls::PqSession), in a few
  // large transactions of at most ~64 MB each.
  const long long rows_per_tx = std::max<long long>(1, std::min<long long>(total, (64LL << 20) / (spec.size + 120)));
  std::string wal_before;
  {
    pqxx::nontransaction tx(conn);
    wal_before = tx.exec("SELECT pg_current_wal_lsn()::text")[0][0].c_str();
  }
  fls::PqSession copy_db(uri);
  const auto copy_start = Clock::now();
  for (long long first = 0; first < total; first += rows_per_tx) {
    const long long end = std::min(total, first + rows_per_tx);
    copy_db.exec("BEGIN");
    copy_db.copy_binary("events (event_id, sidecar_id, batch_id, sequence, message, signature, created)",
                        [&](fls::BinaryCopyWriter& out) {
                          std::int64_t created_ms = now_ms();
                          for (long long row = first; row < end; ++row) {
                            if (row % 1024 == 0) {
                              created_ms = now_ms();
                              flsbench::check_interrupted();
                              if (Clock::now() - copy_start > kCopyBound) {
                                throw Failure("COPY baseline did not finish within 600 s");
                              }
                            }
                            maker.write(static_cast<int>(row / spec.messages), static_cast<long>(row % spec.messages),
                                        payload.data());
                            out.row(7);
                            out.uuid(uuid4(rng));
                            out.uuid(sidecar_id);
                            out.uuid(batch_id);
                            out.int8(row + 1);
                            out.bytes(payload);
                            out.bytes(signature());
                            out.timestamptz(created_ms);
                          }
                        });
    copy_db.exec("COMMIT");
  }
  const double copy_s = seconds(Clock::now() - copy_start);
  r.copy_rows_s = static_cast<double>(total) / copy_s;
  {
    pqxx::work tx(conn);
    const long long copied = scalar(tx, "SELECT count(*) FROM events");
    r.copy_wal_mb = static_cast<double>(scalar(
                        tx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), " + tx.quote(wal_before) + ")::bigint")) /
                    1e6;
    r.copy_events_mb = static_cast<double>(scalar(tx, "SELECT pg_total_relation_size('events')")) / 1e6;
    if (copied != total)
      r.note += "COPY baseline stored " + std::to_string(copied) + " rows, not " + std::to_string(total) + "; ";
    tx.exec("TRUNCATE events");
    tx.commit();
  }

  // (1b) COPY of what the sidecar must store for the same rows: the events and, every
  // batch-size rows, a closed batch whose signed document (built by the product's own code)
  // repeats them, written batches first in the same transactions. Not the target's ceiling;
  // it shows how much of the gap to (1) the batch documents explain.
  {
    // Only the database's part is timed: the documents are built before each transaction.
    double batched_s = 0;
    const std::size_t batch_size = static_cast<std::size_t>(spec.batch_size);
    struct Row {
      std::string event_id, signature;
      std::int64_t created_ms;
    };
    std::vector<Row> rows;
    std::vector<fls::SignedRow> signed_rows;
    std::vector<std::pair<std::string, std::string>> batches;  // id, document
    const std::string batch_signature = signature() + signature() + signature() + signature();
    for (long long first = 0; first < total; first += rows_per_tx) {
      const long long end = std::min(total, first + rows_per_tx);
      rows.clear();
      batches.clear();
      const std::int64_t created_ms = now_ms();
      for (long long row = first; row < end; ++row) {
        maker.write(static_cast<int>(row / spec.messages), static_cast<long>(row % spec.messages), payload.data());
        fls::SignedRow signed_row;
        fls::append_signable_row(signed_row.row_json, fls::RowFields{sidecar_id, row + 1, payload, created_ms});
        signed_row.signature_hex = signature();
        rows.push_back(Row{uuid4(rng), signed_row.signature_hex, created_ms});
        signed_rows.push_back(std::move(signed_row));
        if (signed_rows.size() == batch_size || row + 1 == end) {
          batches.emplace_back(uuid4(rng), fls::make_batch_data(signed_rows));
          signed_rows.clear();
        }
      }
      const auto chunk_start = Clock::now();
      copy_db.exec("BEGIN");
      copy_db.copy_binary("batches (batch_id, sidecar_id, data, signature, created)", [&](fls::BinaryCopyWriter& out) {
        for (const auto& [id, document] : batches) {
          out.row(5);
          out.uuid(id);
          out.uuid(sidecar_id);
          out.bytes(document);
          out.bytes(batch_signature);
          out.timestamptz(created_ms);
        }
      });
      copy_db.copy_binary("events (event_id, sidecar_id, batch_id, sequence, message, signature, created)",
                          [&](fls::BinaryCopyWriter& out) {
                            for (long long row = first; row < end; ++row) {
                              const Row& stored = rows[static_cast<std::size_t>(row - first)];
                              maker.write(static_cast<int>(row / spec.messages), static_cast<long>(row % spec.messages),
                                          payload.data());
                              out.row(7);
                              out.uuid(stored.event_id);
                              out.uuid(sidecar_id);
                              out.uuid(batches[static_cast<std::size_t>(row - first) / batch_size].first);
                              out.int8(row + 1);
                              out.bytes(payload);
                              out.bytes(stored.signature);
                              out.timestamptz(stored.created_ms);
                            }
                          });
      copy_db.exec("COMMIT");
      batched_s += seconds(Clock::now() - chunk_start);
      flsbench::check_interrupted();
    }
    r.copy_batched_rows_s = static_cast<double>(total) / batched_s;
    pqxx::work tx(conn);
    tx.exec("TRUNCATE events, batches CASCADE");
    tx.exec("INSERT INTO batches (batch_id, sidecar_id) VALUES (" + tx.quote(batch_id) + ", " + tx.quote(sidecar_id) +
            ")");
    tx.commit();
  }

  // (2) One INSERT per transaction, prepared.
  conn.prepare("bench_insert",
               "INSERT INTO events (event_id, sidecar_id, batch_id, sequence, message, signature, created) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7)");
  const long rows = static_cast<long>(std::min<long long>(total, kInsertRows));
  const auto insert_start = Clock::now();
  long done = 0;
  for (; done < rows; ++done) {
    if (done % 256 == 0) {
      flsbench::check_interrupted();
      if (Clock::now() - insert_start > kInsertBound) {
        r.note += "INSERT baseline stopped at the 120 s bound after " + std::to_string(done) + " rows; ";
        break;
      }
    }
    pqxx::work tx(conn);
    tx.exec_prepared("bench_insert", uuid4(rng), sidecar_id, batch_id, static_cast<long long>(done + 1),
                     message_hex(done), signature(), now_timestamp());
    tx.commit();
  }
  r.insert_rows = done;
  r.insert_rows_s = static_cast<double>(done) / seconds(Clock::now() - insert_start);
}

constexpr const char* kCountSql = "SELECT count(*) FROM events";

RunResult run_one(const RunSpec& spec, int index, const std::string& admin_uri, const std::string& tmp_dir,
                  const Options& options) {
  const int poll_ms = options.poll_ms;
  RunResult r;
  r.spec = spec;
  const long long total = spec.total();
  const std::string prefix = "fls_bench_" + std::to_string(getpid()) + "_" + std::to_string(index);
  const std::string log_prefix = tmp_dir + "/run" + std::to_string(index) + "-";
  r.logs = log_prefix + "{kms,sidecar}.log";
  const auto poll_interval = std::chrono::milliseconds(poll_ms);
  try {
    TestDatabase sidecar_db(admin_uri, prefix + "_sidecar");
    TestDatabase kms_db(admin_uri, prefix + "_kms");
    TestDatabase base_db(admin_uri, prefix + "_base");
    {
      Services services(sidecar_db.uri(), kms_db.uri(), spec.batch_size, spec.size, spec.connections, log_prefix);
      ChildProcess& sidecar = *services.sidecar;
      const pid_t pid = sidecar.pid();
      std::this_thread::sleep_for(300ms);  // let start-up work settle before reading "idle"
      const long idle_kib = flsbench::read_status_kib(pid, "VmRSS");
      const long long cpu_before = flsbench::read_cpu_ticks(pid);
      const long long kms_cpu_before = flsbench::read_cpu_ticks(services.kms->pid());
      r.load_before = flsbench::load_average();
      r.idle_rss_mib = mib(idle_kib);

      pqxx::connection poll_conn(sidecar_db.uri());
      pqxx::nontransaction poll(poll_conn);
      RssSampler sampler(pid);
      LoadWriters writers(spec, services.intake_port);

      // WAL position of the whole cluster (the KMS's writes included).
      const std::string wal_before = poll.exec("SELECT pg_current_wal_lsn()::text")[0][0].c_str();
      const auto machine_before = flsbench::read_machine_ticks();
      const auto t0 = Clock::now();  // first byte: the writers are connected and released now
      writers.start();

      // Phase 1: until every event is committed.
      const flsbench::CommitWait committed =
          flsbench::wait_all_committed(services, writers, poll, t0, poll_interval, options.poll_count);
      const Clock::time_point t_commit = committed.committed;
      r.note += committed.note;
      const auto machine_after = flsbench::read_machine_ticks();
      if (machine_after.total > machine_before.total) {
        r.machine_busy_pct = 100.0 * static_cast<double>(machine_after.busy - machine_before.busy) /
                             static_cast<double>(machine_after.total - machine_before.total);
      }
      writers.join();
      const auto t_sent = writers.last_done();

      // Phase 2: until every batch is closed and acknowledged (every event is committed: phase 1
      // confirmed it with count(*)).
      const Clock::time_point t_ack = flsbench::wait_all_acknowledged(services, poll, t_commit, poll_interval);
      const long long cpu_after = flsbench::read_cpu_ticks(pid);
      r.wal_mb = static_cast<double>(scalar(
                     poll, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), " + poll.quote(wal_before) + ")::bigint")) /
                 1e6;
      const long long kms_cpu_after = flsbench::read_cpu_ticks(services.kms->pid());
      if (kms_cpu_before >= 0 && kms_cpu_after >= 0) {
        r.kms_cpu_s = static_cast<double>(kms_cpu_after - kms_cpu_before) / static_cast<double>(sysconf(_SC_CLK_TCK));
      }
      const long peak_kib = sampler.stop();
      if (std::string text; flsbench::http_get(services.health_port, "/metrics", &text, 2s) == 200) {
        r.commits = metric(text, "fls_sidecar_store_commit_seconds_count");
        r.commit_sum_s = metric(text, "fls_sidecar_store_commit_seconds_sum");
      }
      r.hwm_mib = mib(flsbench::read_status_kib(pid, "VmHWM"));

      r.send_s = seconds(t_sent - t0);
      r.commit_s = seconds(t_commit - t0);
      r.msgs_per_s = static_cast<double>(total) / r.commit_s;
      r.mb_per_s = r.msgs_per_s * static_cast<double>(spec.size) / 1e6;
      r.ack_after_sent_s = seconds(t_ack - t_sent);
      r.ack_after_commit_s = seconds(t_ack - t_commit);
      r.peak_rss_mib = mib(std::max(peak_kib, idle_kib));
      if (cpu_before >= 0 && cpu_after >= 0) {
        r.cpu_s = static_cast<double>(cpu_after - cpu_before) / static_cast<double>(sysconf(_SC_CLK_TCK));
        r.cpu_per_100k = r.cpu_s * 100000.0 / static_cast<double>(total);
      }

      // Completeness: what CI asserts.
      r.events = scalar(poll, kCountSql);
      r.batches = scalar(poll, "SELECT count(*) FROM batches");
      r.events_mb = static_cast<double>(scalar(poll, "SELECT pg_total_relation_size('events')")) / 1e6;
      r.batches_mb = static_cast<double>(scalar(poll, "SELECT pg_total_relation_size('batches')")) / 1e6;
      const long long open = scalar(poll, "SELECT count(*) FROM batches WHERE data IS NULL OR acknowledged IS NULL");
      {
        pqxx::connection kms_conn(kms_db.uri());
        pqxx::nontransaction kms_tx(kms_conn);
        r.kms_batches = scalar(kms_tx, "SELECT count(*) FROM kms_batches");
      }
      std::string missing;
      if (r.events != total) missing += "events " + std::to_string(r.events) + "/" + std::to_string(total) + "; ";
      if (open != 0) missing += std::to_string(open) + " batches open or unacknowledged; ";
      if (r.kms_batches != r.batches) {
        missing += "kms_batches " + std::to_string(r.kms_batches) + " != batches " + std::to_string(r.batches) + "; ";
      }
      r.complete = missing.empty();
      r.note += missing;

      services.stop();
      r.sidecar_exit = services.sidecar_exit;
      r.kms_exit = services.kms_exit;
      if (services.sidecar_killed) r.note += "sidecar needed SIGKILL after 25 s; ";
      if (services.kms_killed) r.note += "fls-kms needed SIGKILL after 25 s; ";
    }
    // The baselines run with the sidecar and the KMS stopped, so nothing else competes.
    run_baselines(base_db.uri(), spec, r);
  } catch (const Failure& e) {
    r.complete = false;
    r.fatal = true;
    r.note += e.what();
  } catch (const std::exception& e) {
    r.complete = false;
    r.fatal = true;
    r.note += std::string("error: ") + e.what();
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// The idle-connections run

struct IdleResult {
  long connections = 0;
  double accepted = NAN;
  double idle_rss_mib = NAN, loaded_rss_mib = NAN, kib_per_connection = NAN;
  bool complete = false;
  std::string note;
};

IdleResult run_idle(long n, int batch_size, const std::string& admin_uri, const std::string& tmp_dir) {
  IdleResult r;
  r.connections = n;
  std::vector<int> fds;
  try {
    const std::string prefix = "fls_bench_" + std::to_string(getpid()) + "_idle";
    TestDatabase sidecar_db(admin_uri, prefix + "_sidecar");
    TestDatabase kms_db(admin_uri, prefix + "_kms");
    Services services(sidecar_db.uri(), kms_db.uri(), batch_size, 0, n, tmp_dir + "/idle-");
    const pid_t pid = services.sidecar->pid();
    std::this_thread::sleep_for(300ms);
    const long idle_kib = flsbench::read_status_kib(pid, "VmRSS");
    r.idle_rss_mib = mib(idle_kib);
    struct Closer {
      std::vector<int>& fds;
      ~Closer() {
        for (int fd : fds) close(fd);
      }
    } closer{fds};
    for (long i = 0; i < n; ++i) {
      flsbench::check_interrupted();
      fds.push_back(connect_loopback(services.intake_port));
    }
    const auto start = Clock::now();
    std::string body;
    while (true) {
      flsbench::check_interrupted();
      body.clear();
      if (flsbench::http_get(services.health_port, "/metrics", &body, 2s) == 200) {
        r.accepted = metric(body, "fls_sidecar_client_connections");
        if (r.accepted >= static_cast<double>(n)) break;
      }
      if (Clock::now() - start > 15s) {
        r.note = "after 15 s the sidecar reports " +
                 (std::isnan(r.accepted) ? std::string("no fls_sidecar_client_connections metric")
                                         : std::to_string(static_cast<long>(r.accepted)) + " connections");
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(500ms);
    long loaded_kib = -1;
    for (int i = 0; i < 5; ++i) {
      loaded_kib = std::max(loaded_kib, flsbench::read_status_kib(pid, "VmRSS"));
      std::this_thread::sleep_for(50ms);
    }
    r.loaded_rss_mib = mib(loaded_kib);
    r.kib_per_connection = static_cast<double>(loaded_kib - idle_kib) / static_cast<double>(n);
    r.complete = r.accepted == static_cast<double>(n);
    services.stop();
  } catch (const std::exception& e) {
    r.complete = false;
    r.note += e.what();
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Output

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  flsbench::install_signal_handlers();
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fls-bench: " << e.what() << "\n";
    usage(std::cerr);
    return 2;
  }
  raise_fd_limit();

  std::string command;
  // As typed, except that a database password is shown as ***.
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    command +=
        (i ? " " : "") + flsbench::shell_quote(arg.find("://") != std::string::npos ? flsbench::redact_uri(arg) : arg);
  }
  const auto machine = flsbench::describe_machine();
  std::cout << "fls-bench\n"
            << "command:  " << command << "\n"
            << "machine:  " << machine.cpus << " CPUs (nproc), " << machine.model << ", "
            << fixed(machine.memory_gib, 1) << " GiB RAM, " << machine.kernel << ", load average "
            << fixed(flsbench::load_average(), 2) << " at start\n"
            << "binaries: " << kSidecarBinary << ", " << kKmsBinary << "\n";

  char tmp_template[] = "/tmp/fls-bench-XXXXXX";
  if (mkdtemp(tmp_template) == nullptr) {
    std::cerr << "fls-bench: mkdtemp failed: " << std::strerror(errno) << "\n";
    return 1;
  }
  const std::string tmp_dir = tmp_template;
  std::cout << "logs:     " << tmp_dir << "\n"
            << "polls:    every " << options.poll_ms << " ms, "
            << (options.poll_count ? "SELECT count(*) FROM events"
                                   : "the sidecar's fls_sidecar_events_stored_total (GET /metrics), confirmed by "
                                     "count(*)")
            << std::endl;

  const auto runs = plan_runs(options);
  std::vector<RunResult> results;
  std::optional<IdleResult> idle;
  std::string setup_error;
  try {
    Cluster cluster(options.database_uri, tmp_dir);
    {
      pqxx::connection conn(cluster.admin_uri());
      pqxx::nontransaction tx(conn);
      std::cout << "database: " << flsbench::redact_uri(cluster.admin_uri()) << " (" << cluster.origin()
                << "), PostgreSQL " << tx.exec("SHOW server_version")[0][0].c_str() << ", synchronous_commit "
                << tx.exec("SHOW synchronous_commit")[0][0].c_str() << ", fsync " << tx.exec("SHOW fsync")[0][0].c_str()
                << std::endl;
    }
    if (options.inquiry) {
      const InquiryRunOptions inquiry{{options.connections, options.messages, options.size, options.batch_size},
                                      std::chrono::milliseconds(options.inquiry_poll_ms),
                                      std::chrono::milliseconds(options.poll_ms),
                                      std::chrono::seconds(options.verdict_bound_s)};
      const int status = run_inquiry_bench(inquiry, cluster.admin_uri(), tmp_dir);
      std::error_code ec;
      if (status == 0) {
        fs::remove_all(tmp_dir, ec);
      } else {
        std::cout << "logs kept in " << tmp_dir << std::endl;
      }
      return status;
    }
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const auto& spec = runs[i];
      std::cout << "\nrun " << i + 1 << "/" << runs.size() << ": C=" << spec.connections << " M=" << spec.messages
                << " S=" << spec.size << " batch=" << spec.batch_size << " (" << spec.total() << " messages, "
                << fixed(static_cast<double>(spec.total() * spec.size) / 1e6, 1) << " MB)" << std::endl;
      results.push_back(run_one(spec, static_cast<int>(i + 1), cluster.admin_uri(), tmp_dir, options));
      const auto& r = results.back();
      if (!std::isnan(r.commit_s)) {
        std::cout << "  sent in " << fixed(r.send_s, 2) << " s, all committed after " << fixed(r.commit_s, 2)
                  << " s, all acknowledged " << fixed(r.ack_after_commit_s, 2) << " s after the last commit ("
                  << fixed(r.ack_after_sent_s, 2) << " s after the last send)\n"
                  << "  events " << r.events << ", batches " << r.batches << " (KMS holds " << r.kms_batches
                  << "), sidecar CPU " << fixed(r.cpu_s, 2) << " s, fls-kms CPU " << fixed(r.kms_cpu_s, 2)
                  << " s, VmHWM " << fixed(r.hwm_mib, 1) << " MiB, exit status sidecar " << r.sidecar_exit
                  << " / fls-kms " << r.kms_exit << "\n"
                  << "  sidecar writer: " << fixed(r.commits, 0) << " commits since start, "
                  << fixed(static_cast<double>(r.spec.total()) / r.commits, 0) << " events per commit on average, "
                  << fixed(r.commit_sum_s, 2) << " s inside commits, summed over the committer lanes (of "
                  << fixed(r.commit_s, 2) << " s to commit everything)\n"
                  << "  machine: load average " << fixed(r.load_before, 2) << " before the run, all CPUs "
                  << fixed(r.machine_busy_pct, 0) << "% busy while loading (sidecar, fls-kms, PostgreSQL, fls-bench, "
                  << "anything else)\n"
                  << "  COPY " << fixed(r.copy_rows_s, 0) << " rows/s, COPY with batch documents "
                  << fixed(r.copy_batched_rows_s, 0) << " rows/s (sidecar "
                  << fixed(r.msgs_per_s / r.copy_batched_rows_s, 2) << "x that), INSERT " << fixed(r.insert_rows_s, 0)
                  << " rows/s (" << r.insert_rows << " rows)\n"
                  << "  PostgreSQL: the sidecar run wrote " << fixed(r.wal_mb, 1)
                  << " MB of WAL (cluster-wide, KMS included), "
                  << "its events table is " << fixed(r.events_mb, 1) << " MB and batches " << fixed(r.batches_mb, 1)
                  << " MB; the COPY baseline wrote " << fixed(r.copy_wal_mb, 1) << " MB of WAL for an events table of "
                  << fixed(r.copy_events_mb, 1) << " MB\n";
      }
      std::cout << "  " << (r.complete ? "complete" : "INCOMPLETE") << (r.note.empty() ? "" : ": " + r.note)
                << std::endl;
      if (!r.complete) std::cout << "  logs: " << r.logs << std::endl;
      if (r.fatal) {
        std::cout << "  stopping: later runs skipped" << std::endl;
        break;
      }
    }
    if (options.idle_connections > 0 && (results.empty() || !results.back().fatal)) {
      std::cout << "\nidle run: " << options.idle_connections << " idle connections" << std::endl;
      idle = run_idle(options.idle_connections, options.batch_size, cluster.admin_uri(), tmp_dir);
    }
  } catch (const std::exception& e) {
    setup_error = e.what();
  }

  std::cout << "\n";
  std::vector<std::vector<std::string>> rows;
  std::string incomplete;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const double vs_copy = r.msgs_per_s / r.copy_rows_s, vs_insert = r.msgs_per_s / r.insert_rows_s;
    rows.push_back({std::to_string(r.spec.connections), std::to_string(r.spec.messages), std::to_string(r.spec.size),
                    fixed(r.msgs_per_s, 0), fixed(r.mb_per_s, 1), fixed(r.ack_after_sent_s, 2),
                    fixed(r.peak_rss_mib, 1), fixed(r.idle_rss_mib, 1), fixed(r.cpu_per_100k, 2),
                    fixed(r.copy_rows_s, 0), fixed(r.insert_rows_s, 0), fixed(vs_copy, 2), fixed(vs_insert, 1),
                    r.complete ? "yes" : "NO"});
    if (!r.complete) incomplete += "run " + std::to_string(i + 1) + ": " + r.note.substr(0, r.note.find('\n')) + " ";
  }
  if (!rows.empty()) {
    print_table({"C", "M", "S", "msgs/s", "MB/s", "last-ack-after-s", "peak RSS MiB", "idle RSS MiB", "CPU s/100k",
                 "COPY rows/s", "INSERT rows/s", "vs COPY", "vs INSERT", "complete"},
                rows);
  }
  if (idle) {
    std::cout << "\n";
    print_table(
        {"idle connections", "accepted", "idle RSS MiB", "RSS with connections MiB", "KiB/connection", "complete"},
        {{std::to_string(idle->connections), fixed(idle->accepted, 0), fixed(idle->idle_rss_mib, 1),
          fixed(idle->loaded_rss_mib, 1), fixed(idle->kib_per_connection, 1), idle->complete ? "yes" : "NO"}});
    if (!idle->complete) incomplete += "idle run: " + idle->note + " ";
  }
  if (!setup_error.empty()) incomplete += setup_error + " ";
  if (results.size() < runs.size()) {
    incomplete +=
        std::to_string(runs.size() - results.size()) + " of " + std::to_string(runs.size()) + " runs not done ";
  }
  if (flsbench::g_interrupted && incomplete.find("interrupted") == std::string::npos) incomplete += "interrupted ";
  while (!incomplete.empty() && incomplete.back() == ' ') incomplete.pop_back();
  std::cout << "\nmsgs/s: first byte sent -> last event committed; last-ack-after-s: last message sent -> every batch "
               "acknowledged;\nCPU s/100k: sidecar utime+stime per 100k messages; vs COPY / vs INSERT: sidecar msgs/s "
               "divided by the baseline's rows/s.\n";
  if (incomplete.empty()) {
    std::cout << "complete: yes" << std::endl;
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    return 0;
  }
  std::cout << "complete: NO (" << incomplete << ")\nlogs kept in " << tmp_dir << std::endl;
  return 1;
}
