#include "fls/intake/intake_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "fls/common/logging.h"
#include "fls/intake/frame_decoder.h"

namespace fls {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;
// The frame sweep runs this many times per frame_timeout: a stalled connection is closed
// between one and one and a quarter timeouts after its last byte.
constexpr unsigned kSweepsPerTimeout = 4;
}  // namespace

class IntakeServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(IntakeServer& server, tcp::socket socket, std::uint64_t id)
      : server_(server), socket_(std::move(socket)), id_(id), decoder_(server.options_.max_message_size) {
    boost::system::error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown peer") : peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void start() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    spdlog::debug("intake connection {} opened from {}", id_, peer_);
    if (!server_.queue_.has_room()) {
      server_.pause(shared_from_this());  // not registered yet, or the queue is full
      return;
    }
    do_wait();
  }

  // Reads at once: the socket may hold data already, and the reactor is edge-triggered, so a
  // wait would not return until more arrived, which a client held by back-pressure never sends.
  void resume() {
    if (closed_) return;
    paused_ = false;
    read_now();
  }
  void set_paused() { paused_ = true; }

  // Its turn to read the rest of its partial frame past the bound.
  void start_finishing() {
    finishing_ = true;
    resume();
  }
  void stop_finishing() { finishing_ = false; }

  bool closed() const { return closed_; }
  bool holds_partial_frame() const { return accounted_ > 0; }
  std::uint64_t frame_order() const { return frame_order_; }
  // The socket already holds the rest of the frame: as finisher it would be done at once.
  bool rest_of_frame_waiting() const {
    boost::system::error_code ec;
    const std::size_t waiting = socket_.available(ec);
    return !ec && waiting >= decoder_.bytes_to_frame_end();
  }

  // One frame sweep passed. The quiet time of a partial frame counts while the connection
  // reads, and while it is paused only if nothing but partial frames is held: a pause that
  // commits will end is the store's doing, not the client's. True when it is up.
  bool count_quiet_sweep(bool only_partial_frames_held) {
    if (paused_ && !only_partial_frames_held) return false;
    return ++quiet_sweeps_ > kSweepsPerTimeout;
  }

  void time_out() {
    const LogField field("connection", std::to_string(id_));
    ++server_.stats_.protocol_errors;
    spdlog::warn(
        "intake connection {} from {} closed: no byte for SIDE_FRAME_TIMEOUT ({} ms) in the middle of a "
        "frame ({} bytes of it received and discarded)",
        id_, peer_, server_.options_.frame_timeout.count(), decoder_.buffered_bytes());
    end();
  }

  // At a graceful stop: takes every whole frame the kernel already holds for this connection,
  // whatever the queue's bound, since the client has sent them.
  // Only what is there now: a client that keeps writing cannot hold the stop up.
  void read_remaining() {
    boost::system::error_code ec;
    std::size_t left = socket_.available(ec);
    while (!ec && left > 0) {
      const std::size_t n =
          socket_.read_some(asio::buffer(server_.read_buffer_.data(), std::min(left, server_.read_buffer_.size())), ec);
      if (ec || n == 0 || !decode(std::string_view(server_.read_buffer_.data(), n))) return;
      left -= n;
    }
  }

  // Closes the socket and gives back the bytes of its partial frame.
  void close() {
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (accounted_ > 0) server_.queue_.add_partial_bytes(-static_cast<std::int64_t>(accounted_));
    accounted_ = 0;
  }

 private:
  void do_wait() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->quiet_sweeps_ = 0;  // the client sent something, even if it is not read yet
      self->on_readable(ec);
    });
  }

  void on_readable(boost::system::error_code ec) {
    if (closed_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) finish("wait failed: " + ec.message());
      return;
    }
    std::size_t limit = server_.read_buffer_.size();
    if (finishing_) {
      limit = std::min(limit, decoder_.bytes_to_frame_end());  // past the bound: this frame only
    } else if (!server_.queue_.has_room()) {
      server_.pause(shared_from_this());  // checked before reading, so one read passes the bound at most
      return;
    }
    const std::size_t n = socket_.read_some(asio::buffer(server_.read_buffer_.data(), limit), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      do_wait();
      return;
    }
    if (ec) {
      finish(ec == asio::error::eof ? std::string() : ec.message());
      return;
    }
    quiet_sweeps_ = 0;
    if (!decode(std::string_view(server_.read_buffer_.data(), n))) {
      finish(std::string(), false);
      return;
    }
    if (finishing_) {
      if (holds_partial_frame()) {
        go_on_reading(n == limit);
        return;
      }
      server_.end_finisher_turn();  // its frame is queued: the next turn comes after its commit
    }
    if (!server_.queue_.has_room()) {
      // Back-pressure: stop reading; the kernel's buffers fill and the client's writes block.
      server_.pause(shared_from_this());
      return;
    }
    go_on_reading(n == limit);
  }

  void go_on_reading(bool read_was_full) {
    if (read_was_full) {
      read_now();  // more may be waiting; let other connections' handlers run first
    } else {
      do_wait();  // the socket is drained, so new data will wake the wait
    }
  }

  void read_now() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable({}); });
  }

  // Queues every whole frame in `input`; false on a protocol error (logged).
  bool decode(std::string_view input) {
    const LogField field("connection", std::to_string(id_));
    for (;;) {
      std::string payload;
      const auto status = decoder_.decode(input, payload);
      if (status == FrameDecoder::Status::need_more) {
        account_partial_frame();
        return true;
      }
      if (status == FrameDecoder::Status::too_large) {
        ++server_.stats_.protocol_errors;
        spdlog::warn("intake connection {} from {} closed: frame of {} bytes exceeds SIDE_MAX_MESSAGE_SIZE ({})", id_,
                     peer_, decoder_.announced_length(), server_.options_.max_message_size);
        return false;
      }
      ++server_.stats_.messages;
      server_.stats_.bytes += payload.size();
      server_.queue_.push(ReceivedMessage{std::move(payload), server_.clock_.now_ms()});
    }
  }

  // Keeps the queue's count of this connection's partial frame equal to what the decoder holds.
  void account_partial_frame() {
    const std::size_t buffered = decoder_.buffered_bytes();
    if (buffered == accounted_) return;
    if (accounted_ == 0) {
      frame_order_ = server_.next_frame_order_++;
      server_.watch_frames();
    }
    server_.queue_.add_partial_bytes(static_cast<std::int64_t>(buffered) - static_cast<std::int64_t>(accounted_));
    accounted_ = buffered;
  }

  // Ends the connection; `error` empty for an orderly close by the client.
  void finish(const std::string& error, bool log_close = true) {
    const LogField field("connection", std::to_string(id_));
    if (log_close) {
      if (decoder_.buffered_bytes() > 0) {
        spdlog::warn(
            "intake connection {} from {} closed in the middle of a frame ({} bytes of it "
            "received and discarded){}{}",
            id_, peer_, decoder_.buffered_bytes(), error.empty() ? "" : ": ", error);
      } else if (!error.empty()) {
        spdlog::warn("intake connection {} from {} failed: {}", id_, peer_, error);
      } else {
        spdlog::debug("intake connection {} from {} closed by the client", id_, peer_);
      }
    }
    end();
  }

  void end() {
    close();
    server_.forget(shared_from_this());
  }

  IntakeServer& server_;
  tcp::socket socket_;
  std::uint64_t id_;
  std::string peer_;
  FrameDecoder decoder_;
  std::size_t accounted_ = 0;      // bytes of the partial frame counted in the queue
  std::uint64_t frame_order_ = 0;  // when the partial frame began, among all connections
  unsigned quiet_sweeps_ = 0;      // frame sweeps counted since the last byte
  bool paused_ = false;            // in the server's paused_ list, reading nothing
  bool finishing_ = false;         // the server's finisher_
  bool closed_ = false;
};

IntakeServer::IntakeServer(asio::io_context& io, IntakeQueue& queue, const Clock& clock, IntakeOptions options)
    : io_(io),
      queue_(queue),
      clock_(clock),
      options_(std::move(options)),
      acceptor_(io),
      accept_retry_(io),
      frame_sweep_(io),
      read_buffer_(kReadBufferSize) {}

IntakeServer::~IntakeServer() = default;

void IntakeServer::start() {
  const tcp::endpoint endpoint(asio::ip::make_address(options_.bind_address), options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  // The queue calls this on the writer's thread; the connections live on the I/O thread.
  queue_.set_room_listener([this] { asio::post(io_, [this] { on_room(); }); });
  spdlog::info("intake listening on {}:{}", options_.bind_address, port());
  do_accept();
}

void IntakeServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  frame_sweep_.cancel();
  // Before the first registration nothing is read (nothing could be signed), so nothing is now.
  const bool reading = queue_.is_open();
  for (const auto& connection : connections_) {
    if (reading) connection->read_remaining();
    connection->close();
  }
  connections_.clear();
  paused_.clear();
  finisher_.reset();
}

std::uint16_t IntakeServer::port() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void IntakeServer::do_accept() {
  acceptor_.async_accept(
      [this](boost::system::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void IntakeServer::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Out of file descriptors, say: pause briefly rather than spin, and keep listening.
    spdlog::warn("intake accept failed: {}; retrying in 100 ms", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec) do_accept();
    });
    return;
  } else if (connections_.size() >= options_.max_connections) {
    ++stats_.connections_rejected;
    spdlog::warn("intake connection refused: SIDE_MAX_CONNECTIONS ({}) connections are open", options_.max_connections);
    socket.close(ec);
  } else {
    ++stats_.connections_accepted;
    auto connection = std::make_shared<Connection>(*this, std::move(socket), next_connection_id_++);
    connections_.insert(connection);
    connection->start();
  }
  do_accept();
}

void IntakeServer::on_room() {
  if (!queue_.has_room()) {
    appoint_finisher();  // still paused; perhaps only partial frames are held now
    return;
  }
  if (auto finisher = finisher_.lock()) finisher->stop_finishing();
  finisher_.reset();
  auto paused = std::move(paused_);
  paused_.clear();
  for (auto& weak : paused) {
    if (auto connection = weak.lock()) connection->resume();
  }
}

void IntakeServer::pause(const std::shared_ptr<Connection>& connection) {
  connection->set_paused();
  paused_.push_back(connection);
  appoint_finisher();
}

void IntakeServer::end_finisher_turn() {
  if (auto finisher = finisher_.lock()) finisher->stop_finishing();
  finisher_.reset();
}

void IntakeServer::forget(const std::shared_ptr<Connection>& connection) {
  connections_.erase(connection);
  if (finisher_.lock() == connection) {
    end_finisher_turn();
    appoint_finisher();
  }
}

// Partial frames alone can fill the bound, and then no commit frees room: one connection at a
// time may read the rest of its frame past the bound, and only while no message waits for a
// commit, so the bound is passed by one frame at most and each turn ends in a commit. A client
// that takes its turn and sends nothing is closed by the frame sweep, and the turn moves on.
void IntakeServer::appoint_finisher() {
  if (!finisher_.expired() || !queue_.holds_only_partial_frames()) return;
  // A connection whose socket holds the rest of its frame finishes at once; else the oldest.
  std::shared_ptr<Connection> best;
  bool best_ready = false;
  for (const auto& weak : paused_) {
    auto connection = weak.lock();
    if (!connection || connection->closed() || !connection->holds_partial_frame()) continue;
    const bool ready = connection->rest_of_frame_waiting();
    if (!best || (ready && !best_ready) || (ready == best_ready && connection->frame_order() < best->frame_order())) {
      best = connection;
      best_ready = ready;
    }
  }
  if (!best) return;
  paused_.erase(std::find_if(paused_.begin(), paused_.end(),
                             [&](const std::weak_ptr<Connection>& weak) { return weak.lock() == best; }));
  finisher_ = best;
  best->start_finishing();
}

void IntakeServer::watch_frames() {
  if (sweeping_ || options_.frame_timeout.count() <= 0 || !acceptor_.is_open()) return;
  sweeping_ = true;
  frame_sweep_.expires_after(
      std::max<std::chrono::milliseconds>(options_.frame_timeout / kSweepsPerTimeout, std::chrono::milliseconds(1)));
  frame_sweep_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // stopped
    sweeping_ = false;
    sweep_frames();
  });
}

void IntakeServer::sweep_frames() {
  const bool only_partial_frames = queue_.holds_only_partial_frames();
  std::vector<std::shared_ptr<Connection>> stalled;
  bool partial_frames_left = false;
  for (const auto& connection : connections_) {
    if (!connection->holds_partial_frame()) continue;
    if (connection->count_quiet_sweep(only_partial_frames)) {
      stalled.push_back(connection);
    } else {
      partial_frames_left = true;
    }
  }
  for (const auto& connection : stalled) connection->time_out();
  if (partial_frames_left) watch_frames();
}

}  // namespace fls
