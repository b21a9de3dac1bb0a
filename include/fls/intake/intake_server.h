#pragma once
// The TCP listener clients write their audit messages to (protocol.md §1).
//
// Runs entirely on one io_context thread, so connection state needs no locks. Connections
// wait for readability and then read into one buffer shared by all of them: an idle
// connection holds only its socket and any partial frame.
//
// Memory: the bytes of partial frames count against the queue's bound with the messages not
// yet committed; at the bound every connection stops reading (TCP holds the clients). Partial
// frames alone can hold that bound (many clients each stopping short of the end of a frame),
// and then no commit can free room. So while only partial frames are held, one connection at
// a time, the "finisher", reads the rest of its frame (never more) past the bound; its frame
// is then committed and the next one goes. The intake therefore holds at most the bound, one
// read of 64 KiB and one frame. A client that holds a partial frame and sends nothing for
// frame_timeout is closed, which frees what stalled clients hold.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "fls/common/clock.h"
#include "fls/intake/intake_queue.h"

namespace fls {

struct IntakeOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 0;  // 0: the kernel picks one (tests)
  std::size_t max_message_size = 1 << 20;
  std::size_t max_connections = 1024;
  // A connection holding a partial frame that gets no byte of it for this long is closed; time
  // it spends paused by the intake does not count while commits are pending. 0: never.
  std::chrono::milliseconds frame_timeout{30'000};
};

struct IntakeStats {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_rejected = 0;
  std::uint64_t protocol_errors = 0;  // frames too large, and partial frames timed out
};

class IntakeServer {
 public:
  IntakeServer(boost::asio::io_context& io, IntakeQueue& queue, const Clock& clock, IntakeOptions options);
  ~IntakeServer();

  // Binds and starts accepting. Throws boost::system::system_error if the address is taken.
  void start();
  // Stops accepting and closes every connection (frames already queued stay queued).
  void stop();

  std::uint16_t port() const;
  std::size_t open_connections() const { return connections_.size(); }
  const IntakeStats& stats() const { return stats_; }

 private:
  class Connection;
  friend class Connection;

  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  void on_room();  // held bytes went down: resume paused connections, or let one finish its frame
  void pause(const std::shared_ptr<Connection>& connection);
  void forget(const std::shared_ptr<Connection>& connection);  // closed: no longer served
  void appoint_finisher();
  void end_finisher_turn();
  void watch_frames();  // a connection holds a partial frame: make sure the sweep runs
  void sweep_frames();

  boost::asio::io_context& io_;
  IntakeQueue& queue_;
  const Clock& clock_;
  IntakeOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  std::unordered_set<std::shared_ptr<Connection>> connections_;
  std::vector<std::weak_ptr<Connection>> paused_;
  std::weak_ptr<Connection> finisher_;  // may read past the bound to the end of its frame
  // One sweep every quarter of frame_timeout, only while some connection holds a partial frame:
  // no timer per connection, and reading costs no timer operation, only a counter reset.
  boost::asio::steady_timer frame_sweep_;
  bool sweeping_ = false;
  std::vector<char> read_buffer_;  // shared by every connection: one thread reads at a time
  std::uint64_t next_connection_id_ = 1;
  std::uint64_t next_frame_order_ = 0;  // orders partial frames by when they began
  IntakeStats stats_;
};

}  // namespace fls
