#include "sidecar_client.h"

#include <boost/asio.hpp>
#include <thread>

namespace fls::client {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct SidecarClient::Connection {
  asio::io_context io;
  tcp::socket socket{io};
};

SidecarClient::SidecarClient(std::string host, std::uint16_t port, std::chrono::milliseconds give_up_after)
    : host_(std::move(host)), port_(port), give_up_after_(give_up_after) {}

SidecarClient::~SidecarClient() = default;

bool SidecarClient::write(std::string_view message) {
  const auto length = static_cast<std::uint32_t>(message.size());
  const unsigned char header[4] = {static_cast<unsigned char>(length >> 24), static_cast<unsigned char>(length >> 16),
                                   static_cast<unsigned char>(length >> 8), static_cast<unsigned char>(length)};
  const std::array<asio::const_buffer, 2> frame{asio::buffer(header), asio::buffer(message.data(), message.size())};

  std::lock_guard lock(mutex_);  // frames from several threads must not interleave
  const auto deadline = std::chrono::steady_clock::now() + give_up_after_;
  auto pause = std::chrono::milliseconds(100);
  for (;;) {
    boost::system::error_code ec;
    if (!connection_) {
      connection_ = std::make_unique<Connection>();
      tcp::resolver resolver(connection_->io);
      const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
      if (!ec) asio::connect(connection_->socket, endpoints, ec);
    }
    if (!ec) asio::write(connection_->socket, frame, ec);
    if (!ec) return true;
    connection_.reset();
    if (std::chrono::steady_clock::now() + pause > deadline) return false;
    std::this_thread::sleep_for(pause);  // the sidecar may be restarting
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace fls::client
