#include "admin_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace fls::test {

namespace http = boost::beast::http;

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body, const std::string& bearer_token, std::chrono::milliseconds timeout,
                        std::uint64_t max_body) {
  // One deadline for the whole exchange: tcp_stream's expiry holds only for asynchronous
  // operations, so each step runs asynchronously to completion on a private io_context.
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  boost::system::error_code error;
  const auto finish = [&](const char* step) {
    io.run();
    io.restart();
    if (error) throw boost::system::system_error(error, std::string("HTTP ") + method + " " + target + ": " + step);
  };
  stream.async_connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
                       [&](boost::system::error_code ec) { error = ec; });
  finish("connect");
  http::request<http::string_body> request(http::string_to_verb(method), target, 11);
  request.set(http::field::host, "127.0.0.1");
  if (!bearer_token.empty()) request.set(http::field::authorization, "Bearer " + bearer_token);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  http::async_write(stream, request, [&](boost::system::error_code ec, std::size_t) { error = ec; });
  finish("write");
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  http::async_read(stream, buffer, parser, [&](boost::system::error_code ec, std::size_t) { error = ec; });
  finish("read");
  const auto& response = parser.get();
  HttpResult result;
  result.status = response.result_int();
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result.headers[name] = std::string(field.value());
  }
  result.body = response.body();
  return result;
}

}  // namespace fls::test
