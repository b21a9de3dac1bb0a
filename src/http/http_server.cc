#include "fls/http/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <memory>
#include <optional>
#include <strings.h>

namespace fls {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIoTimeout = std::chrono::seconds(30);

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, const HttpHandler& handler, std::size_t max_body)
      : stream_(std::move(socket)), handler_(handler), max_body_(max_body) {}

  void start() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(max_body_);
    stream_.expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset) {
      return close();
    }
    if (ec) {
      HttpResponse bad = json_response(400, R"({"code":40000,"message":"Malformed HTTP request"})");
      if (ec == http::error::body_limit) bad = json_response(413, R"({"code":41300,"message":"Request body too large"})");
      return write(bad, false);
    }
    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    write(handler_(request), message.keep_alive());
  }

  void write(const HttpResponse& response, bool keep_alive) {
    auto out = std::make_shared<http::response<http::string_body>>();
    out->result(response.status);
    out->version(11);
    out->set(http::field::server, "forensic-logging-sidecar");
    if (!response.body.empty() || response.status != 201) out->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->body() = response.body;
    out->keep_alive(keep_alive);
    out->prepare_payload();
    stream_.expires_after(kIoTimeout);
    http::async_write(stream_, *out, [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
      if (ec || !out->keep_alive()) return self->close();
      self->do_read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const HttpHandler& handler_;
  std::size_t max_body_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

std::string HttpRequest::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return {};
}

HttpResponse json_response(unsigned status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler)
    : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io) {}

void HttpServer::start() {
  const tcp::endpoint endpoint(asio::ip::make_address(options_.bind_address), options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  spdlog::info("HTTP listening on {}:{}", options_.bind_address, port());
  do_accept();
}

void HttpServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
}

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void HttpServer::do_accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      spdlog::warn("HTTP accept failed: {}", ec.message());
    } else {
      std::make_shared<HttpSession>(std::move(socket), handler_, options_.max_body_size)->start();
    }
    do_accept();
  });
}

}  // namespace fls
