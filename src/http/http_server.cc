#include "fls/http/http_server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <optional>
#include <type_traits>

namespace fls {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct HttpServerShared {
  HttpServerOptions options;
  HttpHandler handler;
  std::size_t open_connections = 0;  // I/O thread only
};

namespace {

constexpr auto kIoTimeout = std::chrono::seconds(30);
// A read buffer that grew past this for one large message is released afterwards, so a
// connection's memory follows what it sends now, not the largest message it ever sent.
constexpr std::size_t kKeptReadBuffer = 64 << 10;

// Counts a connection as open for as long as any of its session objects lives.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<HttpServerShared> shared) : shared_(std::move(shared)) {
    ++shared_->open_connections;
  }
  ~ConnectionSlot() { --shared_->open_connections; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::shared_ptr<HttpServerShared> shared_;
};
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
class WebSocketSession final : public WsPeer, public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  WebSocketSession(Stream stream, std::shared_ptr<WsPeerHandler> handler, std::string remote,
                   const HttpServerOptions& options, std::shared_ptr<ConnectionSlot> slot)
      : ws_(std::move(stream)),
        handler_(std::move(handler)),
        remote_(std::move(remote)),
        slot_(std::move(slot)),
        text_only_(options.websocket_text_only) {
    ws_.read_message_max(options.max_websocket_message);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kIoTimeout;
    timeouts.idle_timeout = options.websocket_idle_timeout;
    timeouts.keep_alive_pings = true;  // a live peer answers; a dead one is closed at the deadline
    ws_.set_option(timeouts);
  }

  void accept(http::request<http::string_body> request) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.async_accept(request, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->finish("WebSocket handshake failed: " + ec.message());
      self->open_ = true;
      self->handler_->on_open(self);
      self->do_read();
      if (!self->queue_.empty()) self->do_write();
    });
  }

  void send(std::string text) override {
    if (closed_) return;
    queue_.push_back(std::move(text));
    if (open_ && !writing_) do_write();
  }

  void close(std::uint16_t code) override {
    if (closed_ || closing_) return;
    closing_ = true;
    close_code_ = code;
    if (open_ && !writing_) do_close();
  }

  void set_read_limit(std::size_t bytes) override { ws_.read_message_max(bytes); }

  const std::string& remote() const override { return remote_; }

 private:
  void do_read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        return self->finish(ec == websocket::error::closed ? std::string("closed by the peer") : ec.message());
      }
      if (self->text_only_ && !self->ws_.got_text()) {
        spdlog::warn("WebSocket peer {} sent a binary message ({} bytes); closing (1003)", self->remote_,
                     self->buffer_.size());
        self->buffer_.consume(self->buffer_.size());
        return self->close(websocket::close_code::unknown_data);
      }
      std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      const bool large = self->buffer_.capacity() > kKeptReadBuffer;
      if (large) self->buffer_.shrink_to_fit();
      self->handler_->on_text(std::move(text));
      // The message, its text and what was parsed from it are freed by now; glibc keeps freed
      // memory in its arenas unless asked to return it.
      if (large) malloc_trim(0);
      if (!self->closed_ && !self->closing_) self->do_read();
    });
  }

  void do_write() {
    if (queue_.empty()) {
      if (closing_) do_close();
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (self->closed_) return;  // finish() already cleared the queue
      if (ec) return self->finish("write failed: " + ec.message());
      self->queue_.pop_front();
      self->do_write();
    });
  }

  void do_close() {
    ws_.async_close(close_code_,
                    [self = this->shared_from_this()](beast::error_code) { self->finish("closed by the server"); });
  }

  void finish(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    handler_->on_closed(reason);
  }

  websocket::stream<Stream> ws_;
  std::shared_ptr<WsPeerHandler> handler_;
  std::string remote_;
  std::shared_ptr<ConnectionSlot> slot_;
  bool text_only_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::uint16_t close_code_ = websocket::close_code::normal;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(Stream stream, std::shared_ptr<HttpServerShared> shared, std::string remote)
      : stream_(std::move(stream)),
        shared_(std::move(shared)),
        remote_(std::move(remote)),
        slot_(std::make_shared<ConnectionSlot>(shared_)) {}

  void start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return;  // scanners and plain-text clients: nothing worth a log line each
        self->do_read();
      });
    } else {
      do_read();
    }
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_size);
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return close();
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        return write(json_response(413, R"({"code":41300,"message":"Request body too large"})"), false);
      }
      return write(json_response(400, R"({"code":40000,"message":"Malformed HTTP request"})"), false);
    }
    auto message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = message.body();
    request.remote = remote_;

    const auto& options = shared_->options;
    if (websocket::is_upgrade(message) && !options.websocket_path.empty() && request.target == options.websocket_path &&
        options.websocket_factory) {
      HttpResponse refusal = json_response(403, R"({"code":40300,"message":"Upgrade refused"})");
      auto handler = options.websocket_factory(request, refusal);
      if (handler) {
        std::make_shared<WebSocketSession<Stream>>(std::move(stream_), std::move(handler), remote_, options, slot_)
            ->accept(std::move(message));
        return;
      }
      return write(refusal, false);
    }
    const bool keep_alive = message.keep_alive();
    shared_->handler(request, [self = this->shared_from_this(), keep_alive](HttpResponse response) {
      self->write(response, keep_alive);
    });
  }

  void write(const HttpResponse& response, bool keep_alive) {
    auto out = std::make_shared<http::response<http::string_body>>();
    out->result(response.status);
    out->version(11);
    if (!response.body.empty()) out->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->body() = response.body;
    out->keep_alive(keep_alive);
    out->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
    http::async_write(stream_, *out, [self = this->shared_from_this(), out](beast::error_code ec, std::size_t) {
      if (ec || !out->keep_alive()) return self->close();
      self->do_read();
    });
  }

  void close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  Stream stream_;
  std::shared_ptr<HttpServerShared> shared_;
  std::string remote_;
  std::shared_ptr<ConnectionSlot> slot_;  // handed to the WebSocket session on an upgrade
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

HttpResponse metrics_response(std::string prometheus_text) {
  HttpResponse response = json_response(200, std::move(prometheus_text));
  response.content_type = "text/plain; version=0.0.4";
  return response;
}

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler)
    : shared_(std::make_shared<HttpServerShared>(HttpServerShared{std::move(options), std::move(handler)})),
      acceptor_(io),
      accept_retry_(io) {}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  const auto& options = shared_->options;
  const tcp::endpoint endpoint(asio::ip::make_address(options.bind_address), options.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  spdlog::info("HTTP{} listening on {}:{}", options.tls ? "S" : "", options.bind_address, port());
  do_accept();
}

void HttpServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

std::size_t HttpServer::open_connections() const { return shared_->open_connections; }

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void HttpServer::refuse_over_limit(tcp::socket socket, const std::string& remote) {
  beast::error_code ignored;
  socket.close(ignored);
  ++refused_since_log_;
  // One line per second at most: a flood of connections must not become a flood of log lines.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
  spdlog::warn("connection from {} refused: {} connections open (the limit); {} refused since the last such line",
               remote, shared_->open_connections, refused_since_log_);
  last_refusal_log_ = now;
  refused_since_log_ = 0;
}

void HttpServer::do_accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors, say: pause briefly rather than spin.
      spdlog::warn("HTTP accept failed: {}; retrying in 100 ms", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) do_accept();
      });
      return;
    } else {
      beast::error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      std::string remote = peer_ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
      if (shared_->open_connections >= shared_->options.max_connections) {
        refuse_over_limit(std::move(socket), remote);
        return do_accept();
      }
      if (shared_->options.tls != nullptr) {
        std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *shared_->options.tls), shared_,
                                                 std::move(remote))
            ->start();
      } else {
        std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), shared_, std::move(remote))->start();
      }
    }
    do_accept();
  });
}

}  // namespace fls
