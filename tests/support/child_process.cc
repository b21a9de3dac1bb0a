#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

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

ChildProcess::ChildProcess(const std::string& binary_path, std::map<std::string, std::string> env,
                           std::vector<std::string> args) {
  char path_template[] = "/tmp/fls-sidecar-XXXXXX";
  const int fd = mkstemp(path_template);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  output_path_ = path_template;
  env.emplace("PATH", "/usr/bin:/bin");  // kept if the caller set its own
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = binary_path;
  std::vector<char*> argv{binary.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    closefrom(3);  // the test's own sockets (a KMS peer's listener) must not live on in the child
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(fd);
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(output_path_.c_str());
}

std::string ChildProcess::output() const {
  std::ifstream in(output_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool ChildProcess::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polling a log file: the child offers no event to wait on.
  while (std::chrono::steady_clock::now() < deadline) {
    if (output().find(text) != std::string::npos) return true;
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return output().find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
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

void ChildProcess::signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  this->signal(signal);
  return wait_exit(timeout);
}

std::pair<int, std::string> run_to_end(const std::string& binary, std::map<std::string, std::string> env,
                                       std::vector<std::string> args, std::chrono::milliseconds timeout) {
  ChildProcess process(binary, std::move(env), std::move(args));
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
