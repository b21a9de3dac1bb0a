#pragma once
// Runs executables (forensic-logging-sidecar, fls-kms, scripts) as child processes with a given
// environment, their output captured to a file that can be waited on. Used by the tests and by
// fls-bench; it does not depend on GoogleTest.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fls::test {

// A port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

extern const char* const kSidecarBinary;
extern const char* const kKmsBinary;

// How a child is started, beyond its binary, environment and arguments.
struct ChildOptions {
  // stdout and stderr are appended to this file, which is kept; empty: a temporary file,
  // removed with the ChildProcess.
  std::string log_path;
  // The child gets this process's environment, `env` overriding it; otherwise only `env`
  // (plus PATH). A binary without a '/' is looked up on PATH.
  bool inherit_environment = false;
};

// The child's stdin is /dev/null, it inherits no descriptor above 2, and it is killed when the
// thread that started it ends (PR_SET_PDEATHSIG), so a dying test or bench leaves nothing behind.
class ChildProcess {
 public:
  // `env` is the whole environment of the child (plus PATH), unless options.inherit_environment.
  ChildProcess(const std::string& binary, std::map<std::string, std::string> env, std::vector<std::string> args = {},
               ChildOptions options = {});
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the output contains `text`; false on timeout or if the process ended.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string output() const;
  const std::string& output_path() const { return output_path_; }
  // True while the process has not ended (it is not reaped by this).
  bool running() const;
  pid_t pid() const { return pid_; }
  // How it ended: exit code, or 128 + signal; -1 while it runs. Reaps an ended child.
  int exit_status();
  // Sends `signal`, without waiting.
  void signal(int signal);
  // Sends `signal` and waits for the exit; returns the exit status (128+n if killed by n), or
  // -1 if it did not end within `timeout`.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGTERM, up to `grace` for the exit, then SIGKILL; returns the exit status, also when the
  // process had ended before. *killed tells whether SIGKILL was needed.
  int terminate(std::chrono::milliseconds grace, bool* killed = nullptr);
  // Waits for the process to end by itself; exit status as above, -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  bool reap(bool block);  // true once the child has been reaped (its status is in status_)

  pid_t pid_ = -1;
  int status_ = -1;
  std::string output_path_;
  bool remove_output_ = true;
};

// Runs an executable to completion; returns {exit status, combined output}; the status is -1
// if it did not end within `timeout` (it is killed then).
std::pair<int, std::string> run_to_end(const std::string& binary, std::map<std::string, std::string> env,
                                       std::vector<std::string> args,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                       ChildOptions options = {});

// Writes length-prefixed frames to 127.0.0.1:`port` over one connection, then closes it.
// Throws on a socket error unless `tolerate_errors`; returns false if one happened.
bool send_frames(std::uint16_t port, const std::vector<std::string>& payloads, bool tolerate_errors = false);

}  // namespace fls::test
