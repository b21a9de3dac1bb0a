#pragma once
// A small HTTP/1.1 server (Boost.Beast), plain or TLS, that can also upgrade one path to
// WebSocket. Runs on one io_context thread; every read and write has a deadline, and request
// bodies and WebSocket messages are bounded.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fls {

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;                                 // peer address:port
  std::string header(const std::string& name) const;  // case-insensitive; "" when absent
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpResponse json_response(unsigned status, std::string body);
// 200 with a Prometheus text exposition body.
HttpResponse metrics_response(std::string prometheus_text);

// Called on the I/O thread; calls `respond` once, at once or later (on the I/O thread).
using HttpRespond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest&, HttpRespond respond)>;

// One accepted WebSocket connection, as the application sees it.
class WsPeer {
 public:
  virtual ~WsPeer() = default;
  virtual void send(std::string text) = 0;  // queued; one write in flight
  // Sends a close frame with `code` (1000 normal, 1008 policy violation, ...) after queued writes.
  virtual void close(std::uint16_t code) = 0;
  // The largest message read from now on; a larger one closes the connection (1009).
  virtual void set_read_limit(std::size_t bytes) = 0;
  virtual const std::string& remote() const = 0;
};

// Receives one WebSocket connection's events, on the I/O thread.
class WsPeerHandler {
 public:
  virtual ~WsPeerHandler() = default;
  virtual void on_open(std::shared_ptr<WsPeer> peer) = 0;
  virtual void on_text(std::string text) = 0;
  virtual void on_closed(const std::string& reason) = 0;
};
// Accepts an upgrade by returning a handler, or refuses it by returning nullptr after filling
// `refusal`, which is sent instead (the connection then closes).
using WsHandlerFactory = std::function<std::shared_ptr<WsPeerHandler>(const HttpRequest&, HttpResponse& refusal)>;

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 0;
  std::size_t max_body_size = 1 << 20;
  boost::asio::ssl::context* tls = nullptr;  // set: serve https:// and wss:// only
  std::string websocket_path;                // non-empty: upgrades on this path go to the factory
  WsHandlerFactory websocket_factory;
  std::size_t max_websocket_message = 16 << 20;     // until the handler sets its own (set_read_limit)
  std::chrono::seconds websocket_idle_timeout{90};  // no frame, not even a pong, this long: closed
  // Connections open at once (HTTP and WebSocket); more are closed as soon as they are accepted.
  std::size_t max_connections = 1024;
  // Text messages only: a binary frame closes the connection (1003, unsupported data).
  bool websocket_text_only = true;
};

struct HttpServerShared;  // options and handler, shared with live sessions

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  void start();  // throws boost::system::system_error if it cannot listen
  void stop();
  std::uint16_t port() const;
  std::size_t open_connections() const;

 private:
  void do_accept();
  void refuse_over_limit(boost::asio::ip::tcp::socket socket, const std::string& remote);
  std::shared_ptr<HttpServerShared> shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  std::uint64_t refused_since_log_ = 0;
};

}  // namespace fls
