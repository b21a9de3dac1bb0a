#include "raw_sidecar_socket.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <stdexcept>

#include "independent_crypto.h"

namespace fls::test {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using json = nlohmann::json;
using tcp = boost::asio::ip::tcp;

RawSidecarSocket::RawSidecarSocket(std::uint16_t port, const std::string& bearer_token) : ws_(io_) {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws_).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  if (!bearer_token.empty()) {
    ws_.set_option(websocket::stream_base::decorator([bearer_token](websocket::request_type& request) {
      request.set(beast::http::field::authorization, "Bearer " + bearer_token);
    }));
  }
  ws_.handshake("127.0.0.1", "/sidecar");
}

void RawSidecarSocket::send(const json& message) { send_text(message.dump()); }

void RawSidecarSocket::send_text(const std::string& text) {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  ws_.text(true);
  ws_.write(boost::asio::buffer(text));
}

json RawSidecarSocket::read() {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  beast::flat_buffer buffer;
  ws_.read(buffer);
  return json::parse(beast::buffers_to_string(buffer.data()));
}

json RawSidecarSocket::exchange(const json& message) {
  send(message);
  return read();
}

std::optional<int> RawSidecarSocket::read_close() {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  beast::flat_buffer buffer;
  beast::error_code ec;
  ws_.read(buffer, ec);
  // A server that closes its socket right after its close frame makes the echo of that frame fail
  // (broken pipe) after the frame was read: its code is still what the server said.
  if (ec == websocket::error::closed || ws_.reason().code != websocket::close_code::none) {
    return static_cast<int>(ws_.reason().code);
  }
  last_error_ = ec.message();
  return std::nullopt;
}

json RawSidecarSocket::register_as(const std::string& sidecar_id, const std::string& service) {
  const json registered = exchange({{"jsonrpc", "2.0"},
                                    {"id", "register-" + sidecar_id},
                                    {"method", "register"},
                                    {"params", {{"id", sidecar_id}, {"serviceName", service}}}});
  if (!registered.contains("result")) throw std::runtime_error("registration refused: " + registered.dump());
  const json& keys = registered["result"];
  const std::string challenge = keys["challenge"];
  const Bytes batch_key = unhex(keys["batchKey"].get<std::string>());
  const Bytes batch_seed(batch_key.begin(), batch_key.begin() + 32);
  const json passed =
      exchange({{"jsonrpc", "2.0"},
                {"id", "challenge-" + sidecar_id},
                {"method", "challenge"},
                {"params",
                 {{"rowSignature", hex(rfc4493_cmac(unhex(keys["rowKey"].get<std::string>()), challenge))},
                  {"batchSignature", hex(ed25519_sign(batch_seed, challenge))}}}});
  if (!passed.contains("result")) throw std::runtime_error("challenge refused: " + passed.dump());
  return keys;
}

unsigned upgrade_status(std::uint16_t port, const std::string& authorization_header) {
  // By hand: Beast's synchronous handshake does not hand back a response that declined it.
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  beast::http::request<beast::http::empty_body> request(beast::http::verb::get, "/sidecar", 11);
  request.set(beast::http::field::host, "127.0.0.1");
  request.set(beast::http::field::connection, "Upgrade");
  request.set(beast::http::field::upgrade, "websocket");
  request.set(beast::http::field::sec_websocket_version, "13");
  request.set(beast::http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  if (!authorization_header.empty()) request.set(beast::http::field::authorization, authorization_header);
  beast::http::write(stream, request);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::empty_body> parser;
  parser.skip(true);  // a 101 has no body; a refusal's body is not needed
  beast::http::read_header(stream, buffer, parser);
  return parser.get().result_int();
}

}  // namespace fls::test
