#pragma once
// A small HTTP/1.1 server (Boost.Beast), plain or TLS, that can also upgrade one path to
// WebSocket. Runs on one io_context thread; every read and write has a deadline, and request
// bodies and WebSocket messages are bounded.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>
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
  std::string remote;  // peer address:port
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
  virtual void close() = 0;                 // close code 1000, after queued writes
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
using WsHandlerFactory = std::function<std::shared_ptr<WsPeerHandler>(const HttpRequest&)>;

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 0;
  std::size_t max_body_size = 1 << 20;
  boost::asio::ssl::context* tls = nullptr;  // set: serve https:// and wss:// only
  std::string websocket_path;                // non-empty: upgrades on this path go to the factory
  WsHandlerFactory websocket_factory;
  std::size_t max_websocket_message = 16 << 20;
  std::chrono::seconds websocket_idle_timeout{90};  // no frame, not even a pong, this long: closed
};

struct HttpServerShared;  // options and handler, shared with live sessions

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  void start();  // throws boost::system::system_error if it cannot listen
  void stop();
  std::uint16_t port() const;

 private:
  void do_accept();
  boost::asio::io_context& io_;
  std::shared_ptr<HttpServerShared> shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
};

}  // namespace fls
