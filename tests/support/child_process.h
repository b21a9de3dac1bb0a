#pragma once
// Runs the real executables (forensic-logging-sidecar, fls-kms) as child processes with a
// given environment, their output captured to a file a test can wait on.
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

class ChildProcess {
 public:
  // `env` is the whole environment of the child (plus PATH).
  ChildProcess(const std::string& binary, std::map<std::string, std::string> env, std::vector<std::string> args = {});
  ~ChildProcess();  // SIGKILL if still running

  // Waits until the output contains `text`; false on timeout or if the process ended.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string output() const;
  // True while the process has not ended (it is not reaped by this).
  bool running() const;
  pid_t pid() const { return pid_; }
  // Sends `signal`, without waiting.
  void signal(int signal);
  // Sends `signal` and waits for the exit; returns the exit status (128+n if killed by n), or
  // -1 if it did not end within `timeout`.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for the process to end by itself; exit status as above, -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::string output_path_;
};

// Runs an executable to completion; returns {exit status, combined output}.
std::pair<int, std::string> run_to_end(const std::string& binary, std::map<std::string, std::string> env,
                                       std::vector<std::string> args,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Writes length-prefixed frames to 127.0.0.1:`port` over one connection, then closes it.
// Throws on a socket error unless `tolerate_errors`; returns false if one happened.
bool send_frames(std::uint16_t port, const std::vector<std::string>& payloads, bool tolerate_errors = false);

}  // namespace fls::test
