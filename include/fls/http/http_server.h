#pragma once
// A small HTTP/1.1 server (Boost.Beast) for health, readiness and metrics endpoints. Runs on
// one io_context thread; every read and write has a deadline.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace fls {

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(const std::string& name) const;  // case-insensitive; "" when absent
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called on the I/O thread; must not block.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 0;
  std::size_t max_body_size = 1 << 20;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
  void start();  // throws boost::system::system_error if it cannot listen
  void stop();
  std::uint16_t port() const;

 private:
  void do_accept();
  boost::asio::io_context& io_;
  HttpServerOptions options_;
  HttpHandler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

HttpResponse json_response(unsigned status, std::string body);

}  // namespace fls
