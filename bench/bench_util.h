// Small helpers for fls-bench: /proc readings, a bare HTTP GET, URIs and text. Child processes
// and databases come from tests/support. Nothing here knows about the sidecar's behaviour;
// fls_bench.cc does the measuring.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace flsbench {

using Clock = std::chrono::steady_clock;

// Set by SIGINT/SIGTERM; every wait loop checks it.
extern std::atomic<bool> g_interrupted;
void install_signal_handlers();

// A run that could not finish (a deadline passed, a process died); the message says what was reached.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Failure("interrupted") once SIGINT/SIGTERM arrived.
void check_interrupted();

// VmRSS / VmHWM of a process in KiB, -1 when it cannot be read.
long read_status_kib(pid_t pid, const char* field);
// utime + stime of a process in clock ticks, -1 when it cannot be read.
long long read_cpu_ticks(pid_t pid);

// Whole-machine CPU time from /proc/stat, in clock ticks: busy (everything but idle and iowait)
// and total. Differences of two readings give how busy all CPUs were in between.
struct MachineTicks {
  long long busy = 0, total = 0;
};
MachineTicks read_machine_ticks();
// The 1-minute load average.
double load_average();

// GET http://127.0.0.1:port/path. Returns the status code, or -1 when there was no answer
// within timeout. The body goes to *body when given.
int http_get(std::uint16_t port, const std::string& path, std::string* body, std::chrono::milliseconds timeout);

// The URI with its password replaced by ***.
std::string redact_uri(const std::string& uri);
// An argument as a POSIX shell would need it written.
std::string shell_quote(const std::string& arg);
std::string read_file(const std::string& path);
std::string tail_lines(const std::string& text, std::size_t lines);

struct Machine {
  long cpus = 0;
  std::string model;
  double memory_gib = 0;
  std::string kernel;
};
Machine describe_machine();

}  // namespace flsbench
