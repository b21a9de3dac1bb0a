#pragma once
// A sidecar connection to fls-kms driven by hand: one JSON-RPC message per WebSocket message,
// for tests that must send what a real sidecar never would.
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fls::test {

class RawSidecarSocket {
 public:
  // Connects to 127.0.0.1:`port`/sidecar; with a token, the upgrade carries
  // `Authorization: Bearer <token>`. Throws if the upgrade is refused.
  explicit RawSidecarSocket(std::uint16_t port, const std::string& bearer_token = {});

  void send(const nlohmann::json& message);
  void send_text(const std::string& text);
  nlohmann::json read();  // throws on a closed socket or a timeout (30 s)
  nlohmann::json exchange(const nlohmann::json& message);
  // Reads until the server closes; the close code, or nullopt if something else came first.
  std::optional<int> read_close();
  // What ended the last read_close that saw no close frame.
  const std::string& last_error() const { return last_error_; }

  // register + challenge with the keys the KMS hands out; returns the register result, whose
  // keys the caller can sign with. Throws unless both succeed.
  nlohmann::json register_as(const std::string& sidecar_id, const std::string& service);

  boost::beast::websocket::stream<boost::beast::tcp_stream>& ws() { return ws_; }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  std::string last_error_;
};

// Result of an upgrade attempt that may be refused: the HTTP status the server answered with
// (101 when it upgraded).
unsigned upgrade_status(std::uint16_t port, const std::string& authorization_header);

}  // namespace fls::test
