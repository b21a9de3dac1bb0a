#include "commit_reply_cutter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

namespace fls::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

CommitReplyCutter::CommitReplyCutter(const std::string& uri) {
  // The port sits between the ':' after the authority's '@' and the path's '/'.
  const auto at = uri.rfind('@');
  const auto colon = at == std::string::npos ? std::string::npos : uri.find(':', at);
  const auto slash = colon == std::string::npos ? std::string::npos : uri.find('/', colon);
  if (slash == std::string::npos || uri.compare(at + 1, colon - at - 1, "127.0.0.1") != 0) {
    throw std::invalid_argument("relay: expected postgres://…@127.0.0.1:port/…");
  }
  server_port_ = static_cast<std::uint16_t>(std::stoi(uri.substr(colon + 1, slash - colon - 1)));

  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("relay: cannot listen on 127.0.0.1: " + reason);
  }
  // Without TLS, so the relay can see the COMMIT go by.
  const std::string rest = uri.substr(slash);
  relayed_uri_ = uri.substr(0, colon + 1) + std::to_string(ntohs(address.sin_port)) + rest +
                 (rest.find('?') == std::string::npos ? "?" : "&") + "sslmode=disable";
  acceptor_ = std::thread([this] { accept_loop(); });
}

CommitReplyCutter::~CommitReplyCutter() {
  ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : sockets_) ::shutdown(fd, SHUT_RDWR);  // wakes every pump
  }
  for (auto& t : threads_) t.join();
  for (int fd : sockets_) ::close(fd);
  ::close(listener_);
}

void CommitReplyCutter::accept_loop() {
  for (;;) {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (client < 0) return;  // shut down
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    const auto address = loopback(server_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      continue;
    }
    auto cut = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard lock(mutex_);
    sockets_.push_back(client);
    sockets_.push_back(server);
    threads_.emplace_back([this, client, server, cut] { pump(client, server, true, cut); });
    threads_.emplace_back([this, client, server, cut] { pump(server, client, false, cut); });
  }
}

void CommitReplyCutter::pump(int from, int to, bool from_client, const std::shared_ptr<std::atomic<bool>>& cut) {
  static constexpr std::string_view kCommit{"COMMIT\0", 7};  // the statement text, NUL-terminated
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (from_client) {
      // Cut before the COMMIT is passed on, so no part of its answer can reach the client.
      const bool cutting =
          std::string_view(buffer, static_cast<std::size_t>(n)).find(kCommit) != std::string_view::npos &&
          armed_.exchange(false);
      if (cutting) *cut = true;
      if (!write_all(to, buffer, static_cast<std::size_t>(n))) return;
      if (cutting) {
        // The server has the COMMIT and commits; the client sees its connection end. The
        // server's side stays open (its answers are read and dropped) so that nothing there
        // aborts the commit; it is closed with the relay.
        fired_ = true;
        ::shutdown(from, SHUT_RDWR);
        return;
      }
    } else if (!*cut && !write_all(to, buffer, static_cast<std::size_t>(n))) {
      return;
    }
  }
}

}  // namespace fls::test
