#include "bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace flsbench {

std::atomic<bool> g_interrupted{false};

namespace {

void on_signal(int) { g_interrupted = true; }

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Exit code, or 128 + signal, from a waitpid status.
int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// argv and envp arrays built before fork: the child must not allocate.
struct ExecArgs {
  std::vector<std::string> argv_strings, env_strings;
  std::vector<char*> argv, envp;
  void finish() {
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

// The child's side of a fork: stdin from /dev/null, the given stdout and stderr, no other
// inherited descriptors, then the program (found on PATH when `search_path`). Allocates nothing.
[[noreturn]] void exec_child(const ExecArgs& args, int stdout_fd, int stderr_fd, bool search_path) {
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  closefrom(3);
  signal(SIGPIPE, SIG_DFL);
  if (search_path) {
    execvpe(args.argv[0], args.argv.data(), args.envp.data());
  } else {
    execve(args.argv[0], args.argv.data(), args.envp.data());
  }
  dprintf(STDERR_FILENO, "fls-bench: cannot execute %s: %s\n", args.argv[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void check_interrupted() {
  if (g_interrupted) throw Failure("interrupted by a signal");
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    throw std::runtime_error("cannot find a free port: " + error);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

long read_status_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return -1;
}

long long read_cpu_ticks(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  long long utime = -1, stime = -1;
  // After ')' come field 3 (state) onwards; utime is field 14, stime field 15.
  for (int index = 3; fields >> field; ++index) {
    if (index == 14) utime = std::atoll(field.c_str());
    if (index == 15) {
      stime = std::atoll(field.c_str());
      break;
    }
  }
  if (utime < 0 || stime < 0) return -1;
  return utime + stime;
}

MachineTicks read_machine_ticks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;  // the aggregate "cpu" line comes first
  MachineTicks t;
  long long v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {  // user nice system idle iowait irq softirq steal
    t.total += v;
    if (i != 3 && i != 4) t.busy += v;
  }
  return t;
}

double load_average() {
  double avg = -1;
  std::ifstream in("/proc/loadavg");
  in >> avg;
  return avg;
}

int http_get(std::uint16_t port, const std::string& path, std::string* body, std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, timeout);
  sockaddr_in addr = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return -1;
  }
  std::string response;
  char buffer[8192];
  const auto deadline = Clock::now() + timeout;
  std::size_t header_end = std::string::npos;
  long long content_length = -1;
  while (Clock::now() < deadline && response.size() < (4u << 20)) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;  // EOF, error or the receive timeout
    response.append(buffer, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = response.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string headers = response.substr(0, header_end);
        for (auto& ch : headers) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const auto at = headers.find("\r\ncontent-length:");
        if (at != std::string::npos) content_length = std::atoll(headers.c_str() + at + 17);
      }
    }
    if (header_end != std::string::npos && content_length >= 0 &&
        response.size() >= header_end + 4 + static_cast<std::size_t>(content_length)) {
      break;
    }
  }
  close(fd);
  if (response.compare(0, 5, "HTTP/") != 0) return -1;
  const auto space = response.find(' ');
  if (space == std::string::npos) return -1;
  const int status = std::atoi(response.c_str() + space + 1);
  if (body != nullptr) *body = header_end == std::string::npos ? std::string() : response.substr(header_end + 4);
  return status;
}

Child::Child(std::string name, const std::string& binary, const std::map<std::string, std::string>& env,
             const std::string& log_path)
    : name_(std::move(name)), log_path_(log_path) {
  ExecArgs args;
  args.argv_strings.push_back(binary);
  if (env.find("PATH") == env.end()) args.env_strings.push_back("PATH=/usr/bin:/bin");
  for (const auto& [key, value] : env) args.env_strings.push_back(key + "=" + value);
  args.finish();
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_path + ": " + std::strerror(errno));
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // fls-bench dying (even by SIGKILL) must not leave a sidecar behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    exec_child(args, log_fd, log_fd, /*search_path=*/false);
  }
  const int fork_errno = errno;
  close(log_fd);
  if (pid_ < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(fork_errno)));
}

Child::~Child() {
  try {
    stop(std::chrono::seconds(25));
  } catch (...) {
  }
}

bool Child::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(status);
    pid_ = -1;
    return false;
  }
  return r == 0;
}

int Child::stop(std::chrono::milliseconds grace, bool* killed) {
  if (killed != nullptr) *killed = false;
  if (!alive()) return status_;
  const pid_t pid = pid_;
  kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (!alive()) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  if (killed != nullptr) *killed = true;
  int status = 0;
  if (waitpid(pid, &status, 0) == pid) status_ = decode_status(status);
  pid_ = -1;
  return status_;
}

std::string Child::log_tail(std::size_t lines) const {
  const std::string tail = tail_lines(read_file(log_path_), lines);
  return tail.empty() ? "(empty)\n" : tail;
}

int run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& overrides,
                const std::string& log_path, std::chrono::milliseconds timeout, std::string* captured_stdout) {
  ExecArgs args;
  args.argv_strings = argv;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos && overrides.count(entry.substr(0, eq)) != 0) continue;
    args.env_strings.push_back(entry);
  }
  for (const auto& [key, value] : overrides) args.env_strings.push_back(key + "=" + value);
  args.finish();

  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_path + ": " + std::strerror(errno));
  int pipe_fds[2] = {-1, -1};
  if (captured_stdout != nullptr && pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close(log_fd);
    throw std::runtime_error("pipe failed");
  }
  const pid_t pid = fork();
  if (pid == 0) exec_child(args, captured_stdout != nullptr ? pipe_fds[1] : log_fd, log_fd, /*search_path=*/true);
  close(log_fd);
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (pid < 0) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    throw std::runtime_error("fork failed");
  }
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  bool reaped = false;
  bool pipe_open = pipe_fds[0] >= 0;
  while (true) {
    if (pipe_open) {
      pollfd pfd{pipe_fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 50) > 0) {
        char buffer[4096];
        const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
        if (n > 0) {
          captured_stdout->append(buffer, static_cast<std::size_t>(n));
        } else {
          pipe_open = false;
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!reaped && waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    if (reaped && !pipe_open) break;
    if (Clock::now() >= deadline) {
      if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
      if (pipe_fds[0] >= 0) close(pipe_fds[0]);
      std::string command;
      for (const auto& a : argv) command += (command.empty() ? "" : " ") + shell_quote(a);
      throw Failure("'" + command + "' did not finish within " + std::to_string(timeout.count() / 1000) +
                    " s; see " + log_path);
    }
  }
  if (pipe_fds[0] >= 0) close(pipe_fds[0]);
  return decode_status(status);
}

std::string with_database(const std::string& uri, const std::string& database) {
  const auto scheme = uri.find("://");
  const auto slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = uri.find('?', slash == std::string::npos ? 0 : slash);
  std::string out = slash == std::string::npos ? uri.substr(0, query) : uri.substr(0, slash);
  out += "/" + database;
  if (query != std::string::npos) out += uri.substr(query);
  return out;
}

std::string redact_uri(const std::string& uri) {
  const auto scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const auto at = uri.find('@', scheme + 3);
  const auto slash = uri.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  const auto colon = uri.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") ==
                          std::string::npos) {
    return arg;
  }
  std::string out = "'";
  for (char ch : arg) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string tail_lines(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t seen = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++seen == lines) break;
  }
  return text.substr(pos);
}

Machine describe_machine() {
  Machine m;
  m.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.compare(0, 10, "model name") == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) m.model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  while (std::getline(meminfo, line)) {
    if (line.compare(0, 9, "MemTotal:") == 0) {
      m.memory_gib = static_cast<double>(std::atoll(line.c_str() + 9)) / (1024.0 * 1024.0);
      break;
    }
  }
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return m;
}

}  // namespace flsbench
