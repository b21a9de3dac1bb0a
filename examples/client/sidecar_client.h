#pragma once
// A small client for the forensic logging sidecar: frames each message (4-byte big-endian
// length, then the bytes) and writes it over TCP.
//
// write() is thread-safe and blocking: when the sidecar applies back-pressure (its queue is
// full, or it has not registered with the KMS yet), write() waits instead of buffering without
// bound. A broken connection is re-opened and the message written again, so a message is
// never silently dropped; write() only fails once `give_up_after` has passed.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace fls::client {

class SidecarClient {
 public:
  SidecarClient(std::string host, std::uint16_t port,
                std::chrono::milliseconds give_up_after = std::chrono::seconds(60));
  ~SidecarClient();

  // Writes one message; false if no connection could take it before `give_up_after`.
  // (A message written just before a connection broke may be written twice; the sidecar stores
  // each copy, which an audit log prefers to a loss.)
  bool write(std::string_view message);

 private:
  struct Connection;
  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds give_up_after_;
  std::mutex mutex_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace fls::client
