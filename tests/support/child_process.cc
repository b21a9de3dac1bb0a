#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fls::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

const char* const kSidecarBinary = FLS_SIDECAR_BINARY;
const char* const kKmsBinary = FLS_KMS_BINARY;

namespace {

// Exit code, or 128 + signal, from a waitpid status.
int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(const std::string& binary_path, std::map<std::string, std::string> env,
                           std::vector<std::string> args, ChildOptions options) {
  int fd = -1;
  if (options.log_path.empty()) {
    char path_template[] = "/tmp/fls-sidecar-XXXXXX";
    fd = mkstemp(path_template);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    output_path_ = path_template;
  } else {
    fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + options.log_path + ": " + std::strerror(errno));
    output_path_ = options.log_path;
    remove_output_ = false;
  }
  // argv and envp are built before fork: the child must not allocate.
  std::vector<std::string> env_strings;
  if (options.inherit_environment) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto eq = entry.find('=');
      if (eq != std::string::npos && env.count(entry.substr(0, eq)) != 0) continue;
      env_strings.push_back(entry);
    }
  } else {
    env.emplace("PATH", "/usr/bin:/bin");  // kept if the caller set its own
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = binary_path;
  std::vector<char*> argv{binary.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const bool search_path = options.inherit_environment && binary.find('/') == std::string::npos;

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // The parent dying (even by SIGKILL) must not leave a sidecar behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    closefrom(3);  // the parent's own sockets (a KMS peer's listener) must not live on in the child
    ::signal(SIGPIPE, SIG_DFL);
    if (search_path) {
      execvpe(argv[0], argv.data(), envp.data());
    } else {
      execve(argv[0], argv.data(), envp.data());
    }
    dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  const int fork_errno = errno;
  close(fd);
  if (pid_ < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(fork_errno)));
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (remove_output_) unlink(output_path_.c_str());
}

std::string ChildProcess::output() const {
  std::ifstream in(output_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool ChildProcess::reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, block ? 0 : WNOHANG) != pid_) return false;
  status_ = decode_status(status);
  pid_ = -1;
  return true;
}

bool ChildProcess::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polling a log file: the child offers no event to wait on.
  while (std::chrono::steady_clock::now() < deadline) {
    if (output().find(text) != std::string::npos) return true;
    if (pid_ > 0 && reap(false)) return output().find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (reap(false)) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

bool ChildProcess::running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: an ended child stays waitable, so stop() and wait_exit() still see its status.
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

int ChildProcess::exit_status() {
  reap(false);
  return pid_ > 0 ? -1 : status_;
}

void ChildProcess::signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  this->signal(signal);
  return wait_exit(timeout);
}

int ChildProcess::terminate(std::chrono::milliseconds grace, bool* killed) {
  if (killed != nullptr) *killed = false;
  if (reap(false)) return status_;
  if (stop(SIGTERM, grace) != -1 || pid_ <= 0) return status_;
  kill(pid_, SIGKILL);
  if (killed != nullptr) *killed = true;
  reap(true);
  return status_;
}

std::pair<int, std::string> run_to_end(const std::string& binary, std::map<std::string, std::string> env,
                                       std::vector<std::string> args, std::chrono::milliseconds timeout,
                                       ChildOptions options) {
  ChildProcess process(binary, std::move(env), std::move(args), std::move(options));
  const int status = process.wait_exit(timeout);
  return {status, process.output()};
}

bool send_frames(std::uint16_t port, const std::vector<std::string>& payloads, bool tolerate_errors) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  std::string out;
  for (const auto& p : payloads) {
    const auto n = static_cast<std::uint32_t>(p.size());
    const char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                            static_cast<char>(n)};
    out.append(header, 4);
    out.append(p);
  }
  if (!ec) asio::write(socket, asio::buffer(out), ec);
  if (!ec) socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec && !tolerate_errors) throw boost::system::system_error(ec, "send_frames");
  return !ec;
}

}  // namespace fls::test
