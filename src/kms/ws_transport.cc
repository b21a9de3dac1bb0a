#include "fls/kms/ws_transport.h"

#include <openssl/ssl.h>
#include <sodium.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/rfc2818_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <stdexcept>
#include <type_traits>

#include "fls/common/tls_policy.h"
#include "fls/common/wipe.h"

namespace fls {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The layer under the WebSocket stream: reads zero the buffer they are given before filling it.
// Beast reads every small frame through a 1.5 KiB buffer inside the WebSocket stream and leaves a
// consumed message there until later bytes overwrite it; the read that follows the registration
// reply therefore zeroes that buffer at once, instead of the keys' hex staying in it.
template <class NextLayer>
class ZeroedReads {
 public:
  using executor_type = typename NextLayer::executor_type;
  using next_layer_type = NextLayer;

  template <class... Args>
  explicit ZeroedReads(Args&&... args) : next_(std::forward<Args>(args)...) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    for (const auto buffer : beast::buffers_range_ref(buffers)) sodium_memzero(buffer.data(), buffer.size());
    return next_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return next_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  NextLayer next_;
};

// The WebSocket close handshake ends with the layer below's own teardown.
template <class NextLayer>
void teardown(beast::role_type role, ZeroedReads<NextLayer>& stream, beast::error_code& ec) {
  using websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}
template <class NextLayer, class Handler>
void async_teardown(beast::role_type role, ZeroedReads<NextLayer>& stream, Handler&& handler) {
  using websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

template <class NextLayer>
class WsConnection final : public WsTransport, public std::enable_shared_from_this<WsConnection<NextLayer>> {
  static constexpr bool kTls = !std::is_same_v<NextLayer, beast::tcp_stream>;

 public:
  WsConnection(asio::io_context& io, asio::ssl::context* tls, const WsOptions& options, WsEvents events)
      : resolver_(io), ws_(make_stream(io, tls)), options_(options), events_(std::move(events)) {}

  void connect(std::chrono::milliseconds timeout) override {
    timeout_ = timeout;
    resolver_.async_resolve(options_.url.host, std::to_string(options_.url.port),
                            [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, r);
                            });
  }

  void send(std::string text) override {
    if (closed_) return;
    queued_bytes_ += text.size();
    queue_.push_back(std::move(text));
    if (open_ && !writing_) do_write();
  }

  void ping(const std::string& payload) override {
    if (!open_ || closed_) return;
    ws_.async_ping(websocket::ping_data(payload.substr(0, 125)),
                   [self = this->shared_from_this()](beast::error_code ec) {
                     if (ec) self->fail("ping failed: " + ec.message());
                   });
  }

  void close() override {
    if (closed_ || closing_) return;
    if (!open_) {
      fail("closed before the connection was open");
      return;
    }
    closing_ = true;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    ws_.async_close(websocket::close_code::normal,
                    [self = this->shared_from_this()](beast::error_code) { self->fail("closed by the sidecar"); });
  }

  std::size_t queued_bytes() const override { return queued_bytes_; }

  void when_flushed(std::function<void()> done) override {
    if (closed_ || queue_.empty()) {
      done();
      return;
    }
    flush_waiters_.emplace_back(queued_total_ + queued_bytes_, std::move(done));
  }

 private:
  using Stream = websocket::stream<ZeroedReads<NextLayer>>;

  static Stream make_stream(asio::io_context& io, asio::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(io, *tls);
    } else {
      (void)tls;
      return Stream(io);
    }
  }

  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("cannot resolve " + options_.url.host + ": " + ec.message());
    beast::get_lowest_layer(ws_).expires_after(timeout_);
    beast::get_lowest_layer(ws_).async_connect(
        results,
        [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) { self->on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("cannot connect: " + ec.message());
    if constexpr (kTls) {
      auto& ssl = ws_.next_layer().next_layer();
      // Server name indication, and the certificate must name the host we asked for.
      if (!SSL_set_tlsext_host_name(ssl.native_handle(), options_.url.host.c_str())) {
        return fail("cannot set the TLS server name");
      }
      ssl.set_verify_callback(asio::ssl::rfc2818_verification(options_.url.host));
      ssl.async_handshake(asio::ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->fail("TLS handshake failed: " + ec.message());
        self->do_ws_handshake();
      });
    } else {
      do_ws_handshake();
    }
  }

  void do_ws_handshake() {
    // The websocket stream applies its own timeouts from here on.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = timeout_;
    timeouts.idle_timeout = websocket::stream_base::none();  // liveness is the KMS client's ping logic
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(options_.max_message_size);
    ws_.text(true);
    ws_.control_callback([this](websocket::frame_type, beast::string_view) {
      if (events_.on_activity) events_.on_activity();
    });
    std::string host = options_.url.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    const bool default_port = options_.url.port == (kTls ? 443 : 80);
    if (!default_port) host += ":" + std::to_string(options_.url.port);
    if (!options_.bearer_token.empty()) {
      ws_.set_option(
          websocket::stream_base::decorator([token = options_.bearer_token](websocket::request_type& request) {
            request.set(beast::http::field::authorization, "Bearer " + token);
          }));
    }
    ws_.async_handshake(host, options_.url.target,
                        [self = this->shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

  void on_handshake(beast::error_code ec) {
    if (ec == websocket::error::upgrade_declined) {
      // fls-kms answers an upgrade without a valid bearer token with 401: say what to check.
      return fail(
          "WebSocket handshake failed: the KMS declined the upgrade (is SIDE_KMS__TOKEN set to a "
          "credential of this service?)");
    }
    if (ec) return fail("WebSocket handshake failed: " + ec.message());
    open_ = true;
    if (events_.on_open) events_.on_open();
    if (closed_) return;
    do_read();
    if (!queue_.empty() && !writing_) do_write();
  }

  void do_read() {
    ws_.async_read(buffer_,
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed)
        return fail("closed by the KMS (code " + std::to_string(ws_.reason().code) + ")");
      return fail("read failed: " + ec.message());
    }
    if (events_.on_activity) events_.on_activity();
    std::string text = beast::buffers_to_string(buffer_.data());
    // A registration reply carries the keys: the receiver wipes `text`, this wipes the buffer.
    const auto read = buffer_.data();
    sodium_memzero(read.data(), read.size());
    buffer_.consume(buffer_.size());
    if (events_.on_text) events_.on_text(std::move(text));
    if (!closed_) do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;  // fail() already cleared the queue
    if (ec) return fail("write failed: " + ec.message());
    queued_total_ += queue_.front().size();
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    while (!flush_waiters_.empty() && flush_waiters_.front().first <= queued_total_) {
      auto done = std::move(flush_waiters_.front().second);
      flush_waiters_.pop_front();
      done();
    }
    if (!queue_.empty() && !closed_) do_write();
  }

  void fail(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    open_ = false;
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    queue_.clear();
    queued_bytes_ = 0;
    auto waiters = std::move(flush_waiters_);
    for (auto& waiter : waiters) waiter.second();
    if (events_.on_closed) events_.on_closed(closing_ ? "closed by the sidecar" : reason);
  }

  tcp::resolver resolver_;
  Stream ws_;
  WsOptions options_;
  WsEvents events_;
  std::chrono::milliseconds timeout_{0};
  beast::basic_flat_buffer<WipingAllocator<char>> buffer_;  // storage it outgrows is wiped too
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t queued_total_ = 0;  // bytes written since the start
  std::deque<std::pair<std::size_t, std::function<void()>>> flush_waiters_;
  bool open_ = false;
  bool writing_ = false;  // one write in flight at a time
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<WsTransport> make_ws_transport(asio::io_context& io, asio::ssl::context* tls, const WsOptions& options,
                                               WsEvents events) {
  if (options.url.tls) {
    if (tls == nullptr) throw std::logic_error("a wss:// URL needs a TLS context");
    return std::make_shared<WsConnection<beast::ssl_stream<beast::tcp_stream>>>(io, tls, options, std::move(events));
  }
  return std::make_shared<WsConnection<beast::tcp_stream>>(io, tls, options, std::move(events));
}

}  // namespace fls
