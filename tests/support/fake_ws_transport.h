#pragma once
// A WsTransport for tests and fuzz targets that never touches the network: connect() opens at
// once (or fails, when told to), every text the client sends goes to `on_send`, and close()
// reports on_closed later, on the io_context, as the real transport does. The peer's side is
// played by deliver() and peer_closes().
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "fls/kms/ws_transport.h"

namespace fls::test {

class FakeWsTransport final : public WsTransport {
 public:
  using OnSend = std::function<void(const std::string& text)>;

  FakeWsTransport(boost::asio::io_context& io, WsEvents events, OnSend on_send, bool refuse_connect = false)
      : io_(io), events_(std::move(events)), on_send_(std::move(on_send)), refuse_connect_(refuse_connect) {}

  void connect(std::chrono::milliseconds) override {
    if (refuse_connect_) {
      close_with("connection refused by the fake");
      return;
    }
    if (events_.on_activity) events_.on_activity();
    if (events_.on_open) events_.on_open();
  }
  // Records even after close(): whatever the client tries to send is checked.
  void send(std::string text) override {
    if (on_send_) on_send_(text);
  }
  void ping(const std::string&) override { ++pings_; }
  void close() override { close_with("closed by the client"); }
  std::size_t queued_bytes() const override { return 0; }
  void when_flushed(std::function<void()> done) override { boost::asio::post(io_, std::move(done)); }

  // The peer's side.
  void deliver(const std::string& text) {
    if (closed_) return;
    if (events_.on_activity) events_.on_activity();
    if (events_.on_text) events_.on_text(text);
  }
  void peer_closes() { close_with("closed by the peer"); }

  bool closed() const { return closed_; }
  int pings() const { return pings_; }

 private:
  void close_with(const char* reason) {
    if (closed_) return;
    closed_ = true;
    boost::asio::post(io_, [on_closed = events_.on_closed, reason = std::string(reason)] {
      if (on_closed) on_closed(reason);
    });
  }

  boost::asio::io_context& io_;
  WsEvents events_;
  OnSend on_send_;
  bool refuse_connect_;
  bool closed_ = false;
  int pings_ = 0;
};

}  // namespace fls::test
