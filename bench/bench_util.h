// Small helpers for fls-bench: child processes, /proc readings, a bare HTTP GET, ports and
// URIs. Nothing here knows about the sidecar's behaviour; fls_bench.cc does the measuring.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
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

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

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

// A child process (fork/exec) with stdout and stderr appended to a log file. It receives only
// the environment given (plus PATH), closes every inherited descriptor above 2, and is killed
// when fls-bench dies. The destructor stops it (SIGTERM, then SIGKILL).
class Child {
 public:
  Child(std::string name, const std::string& binary, const std::map<std::string, std::string>& env,
        const std::string& log_path);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  // False once the process has exited (it is reaped here).
  bool alive();
  // How it exited: exit code, or 128 + signal; -1 while it runs.
  int exit_status() const { return status_; }
  // SIGTERM, wait up to grace, then SIGKILL. Returns the exit status; *killed tells whether
  // SIGKILL was needed.
  int stop(std::chrono::milliseconds grace, bool* killed = nullptr);
  // The last lines of its log, for error messages.
  std::string log_tail(std::size_t lines = 15) const;

 private:
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs a command to its end with the current environment plus `overrides`, stdout and stderr
// to log_path (or, when captured_stdout is given, stdout into it). Returns the exit status;
// throws Failure when it takes longer than timeout (the command is killed).
int run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& overrides,
                const std::string& log_path, std::chrono::milliseconds timeout,
                std::string* captured_stdout = nullptr);

// postgres://user:pw@host:port/db?x -> the same URI naming another database.
std::string with_database(const std::string& uri, const std::string& database);
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
