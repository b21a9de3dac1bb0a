#pragma once
// A TCP relay on 127.0.0.1 in front of PostgreSQL that can lose the reply to a COMMIT, the way
// a network failure at that moment would: once armed, the next COMMIT a client sends is
// delivered to the server (which commits), and that client's connection is then closed before
// any answer reaches it. Everything else is relayed unchanged.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fls::test {

class CommitReplyCutter {
 public:
  // `uri`: postgres://user:password@127.0.0.1:port/db…, the server to relay to.
  explicit CommitReplyCutter(const std::string& uri);
  ~CommitReplyCutter();
  CommitReplyCutter(const CommitReplyCutter&) = delete;
  CommitReplyCutter& operator=(const CommitReplyCutter&) = delete;

  // The server's URI with this relay's port (and sslmode=disable).
  const std::string& uri() const { return relayed_uri_; }
  void arm() { armed_ = true; }
  bool fired() const { return fired_; }

 private:
  void accept_loop();
  // Relays one direction of one connection until either side closes.
  void pump(int from, int to, bool from_client, const std::shared_ptr<std::atomic<bool>>& cut);

  std::uint16_t server_port_ = 0;
  int listener_ = -1;
  std::string relayed_uri_;
  std::atomic<bool> armed_{false};
  std::atomic<bool> fired_{false};
  std::mutex mutex_;
  std::vector<int> sockets_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace fls::test
