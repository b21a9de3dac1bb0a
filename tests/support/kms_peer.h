#pragma once
// A KMS for tests: the server side of protocol.md §4 over a real loopback WebSocket. It hands
// out keys made with OpenSSL, checks challenges and records everything, so a test can assert
// what the sidecar sent and verify it with independent code (independent_crypto.h).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "independent_crypto.h"

namespace fls::test {

struct PeerRegistration {
  std::string sidecar_id;
  std::string service_name;
  Bytes row_key;
  Ed25519Pair batch_key;
  bool challenge_passed = false;
};

struct PeerBatch {
  std::string sidecar_id;  // the registration that delivered it
  std::string signature;
};

class KmsPeer {
 public:
  // Listens on 127.0.0.1:`port` (0: any free port).
  explicit KmsPeer(std::uint16_t port = 0);
  ~KmsPeer();

  std::uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/sidecar"; }

  // Waits until `predicate` (called under the peer's lock) holds; false on timeout.
  bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Snapshots (thread-safe).
  std::vector<PeerRegistration> registrations();
  std::map<std::string, PeerBatch> batches();
  std::vector<nlohmann::json> messages_with_method(const std::string& method);
  std::vector<nlohmann::json> replies();  // responses to requests the peer sent
  std::size_t open_connections();

  // Reads under the lock, for wait_until predicates.
  std::size_t registered_count_locked() const;
  std::size_t batch_count_locked() const { return batches_.size(); }
  std::size_t method_count_locked(const std::string& method) const;
  std::size_t reply_count_locked() const { return replies_.size(); }

  // Adds a registration made with another peer (a KMS that restarted keeps its keys), and
  // records its batches as received, so checks can cover what it acknowledged.
  void remember_registration(const PeerRegistration& registration,
                             const std::map<std::string, PeerBatch>& batches = {});

  // Sends a text frame to the newest connection whose challenge passed.
  void send_to_sidecar(const std::string& text);
  // Closes every connection from the server side.
  void drop_connections();
  // Makes the peer unresponsive (no reads, no pongs, no accepts) for `how_long`: a hung KMS.
  void hang_for(std::chrono::milliseconds how_long);

  // While false, `batch` requests are recorded but never answered.
  void answer_batches(bool answer) { answer_batches_ = answer; }

  // WebSocket pings received, with their payloads.
  std::vector<std::string> pings();
  std::size_t ping_count_locked() const { return pings_.size(); }

 private:
  class Session;
  void do_accept();
  void record(const std::function<void()>& change);

  std::uint16_t port_ = 0;
  std::atomic<bool> answer_batches_{true};
  struct Impl;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<PeerRegistration> registrations_;
  std::map<std::string, PeerBatch> batches_;
  std::vector<nlohmann::json> received_;
  std::vector<nlohmann::json> replies_;
  std::vector<std::string> pings_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

}  // namespace fls::test
