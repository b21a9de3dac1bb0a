// The parts of fls-bench's runs that every mode shares: the PostgreSQL cluster, fls-kms and the
// sidecar as child processes, the client connections that load the sidecar, RSS sampling, and
// the waits for every event to be committed and every batch acknowledged.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "child_process.h"

extern char** environ;

namespace flsbench {

using namespace std::chrono_literals;
using fls::test::ChildProcess;

inline constexpr const char* kSourceDir = FLS_SOURCE_DIR;
using fls::test::kKmsBinary;
using fls::test::kSidecarBinary;

inline constexpr const char* kPrivatePgDir = "/tmp/fls-bench-pg";
inline constexpr const char* kPrivatePgPort = "55440";

inline constexpr auto kReadyTimeout = 30s;  // KMS /health and sidecar /ready
inline constexpr auto kStallTimeout = 30s;  // no new committed event for this long: give up
inline constexpr auto kAckTimeout = 60s;    // after the last event is committed, until all batches are acknowledged
inline constexpr auto kStopGrace = 25s;     // SIGTERM -> SIGKILL

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
inline double mib(long kib) { return kib < 0 ? NAN : static_cast<double>(kib) / 1024.0; }

long long scalar(pqxx::transaction_base& tx, const std::string& sql);

// One load: C connections that each write M messages of S bytes; the sidecar batches B.
struct RunSpec {
  int connections;
  long messages;
  long size;
  int batch_size;
  long long total() const { return static_cast<long long>(connections) * messages; }
};
// Printable ASCII text, distinct per (connection, message) as long as S >= 17: a header
// "c0001-m000000042 " followed by a slice of the printable range (quotes and backslashes
// included, as in JSON audit messages) that also shifts with the message number.
class PayloadMaker {
 public:
  explicit PayloadMaker(std::size_t size) : size_(size) {
    pattern_.resize(size + 95);
    for (std::size_t i = 0; i < pattern_.size(); ++i) pattern_[i] = static_cast<char>(0x20 + i % 95);
  }
  void write(int connection, long message, char* out) const {
    char header[48];
    const int n = std::snprintf(header, sizeof header, "c%04d-m%09ld ", connection, message);
    const std::size_t h = std::min(static_cast<std::size_t>(std::max(n, 0)), size_);
    std::memcpy(out, header, h);
    if (size_ > h) std::memcpy(out + h, pattern_.data() + static_cast<std::size_t>(message % 95) + h, size_ - h);
  }

 private:
  std::size_t size_;
  std::string pattern_;
};

// The cluster the runs use: the given URI, or a private one started (and stopped) here.
class Cluster {
 public:
  // `database_uri`: --database-uri, empty when not given.
  Cluster(const std::string& database_uri, const std::string& tmp_dir) {
    if (!database_uri.empty()) {
      admin_uri_ = database_uri;
      origin_ = "--database-uri";
      return;
    }
    if (const char* env = std::getenv("FLS_TEST_DATABASE_URI"); env != nullptr && *env != '\0') {
      admin_uri_ = env;
      origin_ = "FLS_TEST_DATABASE_URI";
      return;
    }
    log_ = tmp_dir + "/pg.log";
    std::cout << "starting a private PostgreSQL cluster: FLS_PG_DIR=" << kPrivatePgDir
              << " FLS_PG_PORT=" << kPrivatePgPort << " bash " << pg_script() << " start" << std::endl;
    started_ = true;  // stop it even when start failed half-way
    try {
      const int rc = run_pg_script({"start"}, 180s);
      if (rc != 0) {
        throw Failure("scripts/pg.sh start failed (exit " + std::to_string(rc) + "):\n" +
                      flsbench::tail_lines(flsbench::read_file(log_), 20));
      }
      std::string out;
      if (run_pg_script({"uri", "postgres"}, 30s, &out) != 0) {
        throw Failure("scripts/pg.sh uri failed:\n" + flsbench::tail_lines(out, 20));
      }
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
      admin_uri_ = out;
    } catch (...) {
      stop();  // a throwing constructor gets no destructor call
      throw;
    }
    origin_ = std::string("private cluster in ") + kPrivatePgDir;
  }
  ~Cluster() { stop(); }
  void stop() {
    if (!started_) return;
    started_ = false;
    try {
      const int rc = run_pg_script({"stop"}, 120s);
      if (rc != 0) std::cerr << "fls-bench: scripts/pg.sh stop failed (exit " << rc << "), see " << log_ << "\n";
    } catch (const std::exception& e) {
      std::cerr << "fls-bench: scripts/pg.sh stop: " << e.what() << "\n";
    }
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  const std::string& admin_uri() const { return admin_uri_; }
  const std::string& origin() const { return origin_; }

 private:
  static std::string pg_script() { return std::string(kSourceDir) + "/scripts/pg.sh"; }
  // bash scripts/pg.sh <args> with fls-bench's environment plus env(); stdout and stderr are
  // appended to log_, or returned in *output when it is given. Throws Failure (the script is
  // killed) when it takes longer than `timeout`.
  int run_pg_script(std::vector<std::string> args, std::chrono::seconds timeout, std::string* output = nullptr) {
    args.insert(args.begin(), pg_script());
    std::string command = "bash";
    for (const auto& a : args) command += " " + flsbench::shell_quote(a);
    const auto [status, text] = fls::test::run_to_end("bash", env(), args, timeout,
                                                      {output != nullptr ? "" : log_, /*inherit_environment=*/true});
    if (status == -1) {
      throw Failure("'" + command + "' did not finish within " + std::to_string(timeout.count()) + " s; see " + log_);
    }
    if (output != nullptr) *output = text;
    return status;
  }
  static std::map<std::string, std::string> env() {
    return {{"FLS_PG_DIR", kPrivatePgDir}, {"FLS_PG_PORT", kPrivatePgPort}};
  }
  std::string admin_uri_, origin_, log_;
  bool started_ = false;
};

// The last lines of a child's log, for error messages.
std::string log_tail(const ChildProcess& child);

// Polls GET http://127.0.0.1:port/path until it answers 200; Failure when `child` exits first
// or `bound` passes.
void wait_http_ok(const std::string& name, ChildProcess& child, std::uint16_t port, const std::string& path,
                  std::chrono::seconds bound);
// fls-kms and the sidecar, started in that order and stopped in reverse.
struct Services {
  std::uint16_t kms_port = 0, intake_port = 0, health_port = 0;
  std::optional<ChildProcess> kms, sidecar;
  int kms_exit = -1, sidecar_exit = -1;
  bool sidecar_killed = false, kms_killed = false;

  // `kms_settings`: KMS_* variables beyond the ones set here (which they may override).
  Services(const std::string& sidecar_uri, const std::string& kms_uri, int batch_size, long max_message,
           long max_connections, const std::string& log_prefix,
           const std::map<std::string, std::string>& kms_settings = {}) {
    kms_port = fls::test::free_port();
    std::map<std::string, std::string> kms_env{{"KMS_DATABASE_URI", kms_uri},
                                               {"KMS_DEV_MODE", "true"},
                                               {"KMS_PORT", std::to_string(kms_port)},
                                               {"KMS_BIND_ADDRESS", "127.0.0.1"},
                                               {"KMS_LOG_LEVEL", "warn"}};
    for (const auto& [name, value] : kms_settings) kms_env[name] = value;
    kms.emplace(kKmsBinary, kms_env, std::vector<std::string>{}, fls::test::ChildOptions{log_prefix + "kms.log"});
    wait_http_ok("fls-kms", *kms, kms_port, "/health", kReadyTimeout);

    intake_port = fls::test::free_port();
    do {
      health_port = fls::test::free_port();
    } while (health_port == intake_port);
    std::map<std::string, std::string> env{{"SIDE_DATABASE_URI", sidecar_uri},
                                           {"SIDE_KMS__URL", "ws://127.0.0.1:" + std::to_string(kms_port) + "/sidecar"},
                                           {"SIDE_PORT", std::to_string(intake_port)},
                                           {"SIDE_HEALTH_PORT", std::to_string(health_port)},
                                           {"SIDE_BIND_ADDRESS", "127.0.0.1"},
                                           {"SIDE_SERVICE", "fls-bench"},
                                           {"SIDE_BATCH_SIZE", std::to_string(batch_size)},
                                           {"SIDE_BATCH_TIME_INTERVAL", "1000"},
                                           {"SIDE_LOG_LEVEL", "warn"}};
    // Only raised when a run needs more than the defaults (1 MiB frames, 1024 connections).
    if (max_message > 1048576) env["SIDE_MAX_MESSAGE_SIZE"] = std::to_string(max_message);
    if (max_connections > 1000) env["SIDE_MAX_CONNECTIONS"] = std::to_string(max_connections + 16);
    // Tuning to compare (SIDE_STORE_CONNECTIONS=1, say) comes from fls-bench's own environment;
    // what the bench sets itself is kept.
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto eq = entry.find('=');
      if (entry.rfind("SIDE_", 0) == 0 && eq != std::string::npos)
        env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    sidecar.emplace(kSidecarBinary, env, std::vector<std::string>{},
                    fls::test::ChildOptions{log_prefix + "sidecar.log"});
    wait_http_ok("forensic-logging-sidecar", *sidecar, health_port, "/ready", kReadyTimeout);
  }

  void stop() {
    if (sidecar) sidecar_exit = sidecar->terminate(kStopGrace, &sidecar_killed);
    if (kms) kms_exit = kms->terminate(kStopGrace, &kms_killed);
  }
  ~Services() {
    // The sidecar first: it delivers its last batch to the KMS on SIGTERM.
    if (sidecar) sidecar->terminate(kStopGrace);
    if (kms) kms->terminate(kStopGrace);
  }
};
// Samples a process's VmRSS every 50 ms and keeps the largest value.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { run(); }) {}
  ~RssSampler() { stop(); }
  long stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  void run() {
    while (!stop_) {
      peak_ = std::max(peak_.load(), flsbench::read_status_kib(pid_, "VmRSS"));
      std::this_thread::sleep_for(50ms);
    }
  }
  pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<long> peak_{-1};
  std::thread thread_;
};

// A blocking TCP connection to 127.0.0.1:port; Failure when it is refused.
int connect_loopback(std::uint16_t port);
// C client connections on blocking sockets, one thread each. All connect first; start()
// releases them together. The destructor aborts and joins whatever still runs.
class LoadWriters {
 public:
  LoadWriters(const RunSpec& spec, std::uint16_t port) : spec_(spec), go_future_(go_.get_future().share()) {
    slots_.resize(static_cast<std::size_t>(spec.connections));
    try {
      for (auto& slot : slots_) {
        slot.fd = connect_loopback(port);
        // A sidecar that stops reading for this long is stuck, not busy.
        timeval tv{30, 0};
        setsockopt(slot.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      }
    } catch (...) {
      for (auto& slot : slots_)
        if (slot.fd >= 0) close(slot.fd);
      throw;
    }
    for (int c = 0; c < spec.connections; ++c) threads_.emplace_back([this, c] { run(c); });
  }
  ~LoadWriters() {
    abort_ = true;
    release();
    for (auto& slot : slots_) shutdown(slot.fd, SHUT_RDWR);
    join();
    for (auto& slot : slots_) close(slot.fd);
  }
  LoadWriters(const LoadWriters&) = delete;
  LoadWriters& operator=(const LoadWriters&) = delete;

  void start() { release(); }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int finished() const { return finished_; }
  const RunSpec& spec() const { return spec_; }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }
  // When the last writer's last send() returned (call after join()).
  Clock::time_point last_done() const {
    Clock::time_point last{};
    for (const auto& slot : slots_) last = std::max(last, slot.done);
    return last;
  }

 private:
  struct Slot {
    int fd = -1;
    Clock::time_point done{};
  };

  void release() {
    if (!released_.exchange(true)) go_.set_value();
  }

  bool send_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
      const ssize_t sent = send(fd, data, n, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR && !abort_) continue;
        if (!abort_) {
          std::lock_guard lock(mutex_);
          if (error_.empty()) {
            error_ =
                std::string("send failed: ") +
                (errno == EAGAIN || errno == EWOULDBLOCK ? "the sidecar read nothing for 30 s" : std::strerror(errno));
          }
        }
        return false;
      }
      data += sent;
      n -= static_cast<std::size_t>(sent);
    }
    return true;
  }

  void run(int c) {
    go_future_.wait();
    if (abort_) return;
    Slot& slot = slots_[static_cast<std::size_t>(c)];
    const std::size_t frame = 4 + static_cast<std::size_t>(spec_.size);
    const std::size_t capacity = std::max<std::size_t>(256 * 1024, frame);
    std::vector<char> buffer(capacity);
    std::size_t used = 0;
    const PayloadMaker maker(static_cast<std::size_t>(spec_.size));
    const auto n = static_cast<std::uint32_t>(spec_.size);
    for (long m = 0; m < spec_.messages; ++m) {
      if (used + frame > capacity) {
        if (!send_all(slot.fd, buffer.data(), used)) return;
        used = 0;
      }
      char* p = buffer.data() + used;
      p[0] = static_cast<char>(n >> 24);
      p[1] = static_cast<char>(n >> 16);
      p[2] = static_cast<char>(n >> 8);
      p[3] = static_cast<char>(n);
      maker.write(c, m, p + 4);
      used += frame;
    }
    if (!send_all(slot.fd, buffer.data(), used)) return;
    slot.done = Clock::now();
    shutdown(slot.fd, SHUT_WR);
    ++finished_;
  }

  RunSpec spec_;
  std::vector<Slot> slots_;
  std::vector<std::thread> threads_;
  std::promise<void> go_;
  std::shared_future<void> go_future_;
  std::atomic<bool> released_{false};
  std::atomic<bool> abort_{false};
  std::atomic<int> finished_{0};
  mutable std::mutex mutex_;
  std::string error_;
};

// The value of an unlabelled Prometheus sample `name` in `text`, NAN when absent.
double metric(const std::string& text, const std::string& name);

// Loading: until every event the writers send is committed, then until every batch is closed and
// acknowledged. Failure when the sidecar exits, a writer fails, or progress stops.
struct CommitWait {
  Clock::time_point committed;  // when the poll first saw every event committed
  std::string note;             // what was unusual (the cheap poll disagreed with count(*))
};
CommitWait wait_all_committed(Services& services, LoadWriters& writers, pqxx::transaction_base& poll,
                              Clock::time_point started, std::chrono::milliseconds poll_interval, bool poll_count);
Clock::time_point wait_all_acknowledged(Services& services, pqxx::transaction_base& poll, Clock::time_point committed,
                                        std::chrono::milliseconds poll_interval);

// Output.
std::string fixed(double v, int decimals);
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace flsbench
