#pragma once
// One WebSocket connection to the KMS (ws:// or wss:// with certificate verification), with a
// write queue that keeps one write in flight. Lives on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "fls/common/tls_policy.h"
#include "fls/config/kms_url.h"

namespace fls {

struct WsEvents {
  std::function<void()> on_open;                      // handshake done
  std::function<void(std::string text)> on_text;      // one whole text message
  std::function<void()> on_activity;                  // any frame, control frames included
  std::function<void(std::string reason)> on_closed;  // called once, after open or failed connect
};

class WsTransport {
 public:
  virtual ~WsTransport() = default;
  // Resolves, connects, (TLS handshake,) WebSocket handshake; `handshake_timeout` bounds it.
  virtual void connect(std::chrono::milliseconds handshake_timeout) = 0;
  virtual void send(std::string text) = 0;
  virtual void ping(const std::string& payload) = 0;
  // Closes with code 1000; on_closed follows. Safe to call at any time, more than once.
  virtual void close() = 0;
  // Bytes queued but not yet written.
  virtual std::size_t queued_bytes() const = 0;
  // Calls `done` once everything queued so far is written, or the connection is gone.
  virtual void when_flushed(std::function<void()> done) = 0;
};

struct WsOptions {
  KmsUrl url;
  std::size_t max_message_size = 16 << 20;  // a larger incoming message closes the connection
  // Non-empty: the upgrade carries `Authorization: Bearer <token>` (the KMS credential).
  std::string bearer_token;
};

// `tls` is needed for wss:// only (may be null for ws://) and must be configured to verify
// peers (make_client_tls_context).
std::shared_ptr<WsTransport> make_ws_transport(boost::asio::io_context& io, boost::asio::ssl::context* tls,
                                               const WsOptions& options, WsEvents events);

}  // namespace fls
