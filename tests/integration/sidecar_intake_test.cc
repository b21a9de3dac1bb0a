// Client-facing behaviour of the real executable: framing edge cases and the health endpoint.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <nlohmann/json.hpp>
#include <sstream>

#include "admin_client.h"
#include "sidecar_fixture.h"

namespace fls::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class SidecarIntakeTest : public SidecarFixture {};

TEST_F(SidecarIntakeTest, HealthEndpointAnswersOk) {
  auto sidecar = start_sidecar();
  const auto health = http_request(health_port_, "GET", "/health");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, R"({"status":"OK"})");
  EXPECT_EQ(health.headers.at("content-type"), "application/json");
}

TEST_F(SidecarIntakeTest, ReadinessFollowsTheKmsRegistrationAndMetricsCountMessages) {
  const std::uint16_t kms_port = free_port();
  kms_.reset();
  auto sidecar = start_sidecar(
      {{"SIDE_KMS__URL", "ws://127.0.0.1:" + std::to_string(kms_port) + "/sidecar"}, {"SIDE_BATCH_SIZE", "2"}});
  const auto not_ready = http_request(health_port_, "GET", "/ready");
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_NE(not_ready.body.find("not connected to the KMS"), std::string::npos) << not_ready.body;
  EXPECT_EQ(http_request(health_port_, "GET", "/health").status, 200u);  // alive all the same

  kms_ = std::make_unique<KmsPeer>(kms_port);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; })) << sidecar->output();
  send_frames(intake_port_, {"one", "two", "three", "four"});
  ASSERT_TRUE(wait_for_acknowledged_events(4)) << sidecar->output();
  EXPECT_EQ(http_request(health_port_, "GET", "/ready").status, 200u);

  const auto metrics = http_request(health_port_, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.headers.at("content-type"), "text/plain; version=0.0.4");
  for (const char* line : {"fls_sidecar_messages_received_total 4\n", "fls_sidecar_events_stored_total 4\n",
                           "fls_sidecar_batches_created_total 2\n", "fls_sidecar_batches_acknowledged_total 2\n",
                           "fls_sidecar_kms_registered 1\n", "fls_sidecar_store_commit_seconds_count "}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << " in\n" << metrics.body;
  }
}

TEST_F(SidecarIntakeTest, AnOversizedFrameClosesOnlyThatConnection) {
  auto sidecar =
      start_sidecar({{"SIDE_MAX_MESSAGE_SIZE", "100"}, {"SIDE_BATCH_SIZE", "2"}, {"SIDE_LOG_FORMAT", "json"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));

  asio::io_context io;
  tcp::socket good(io), bad(io);
  good.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), intake_port_));
  bad.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), intake_port_));
  const unsigned char too_long[4] = {0, 0, 0, 101};
  asio::write(bad, asio::buffer(too_long));
  char byte;
  boost::system::error_code ec;
  bad.read_some(asio::buffer(&byte, 1), ec);  // the sidecar never writes: this returns at close
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();

  const std::string ok = "still fine";
  const unsigned char header[4] = {0, 0, 0, static_cast<unsigned char>(ok.size())};
  asio::write(good, asio::buffer(header));
  asio::write(good, asio::buffer(ok));
  asio::write(good, asio::buffer(header));
  asio::write(good, asio::buffer(ok));
  ASSERT_TRUE(wait_for_acknowledged_events(2)) << sidecar->output();
  // The JSON log line names the connection and the registration as fields of their own.
  std::istringstream lines(sidecar->output());
  nlohmann::json warning;
  for (std::string line; std::getline(lines, line);) {
    const auto object = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(object.is_object()) << line;
    if (object["message"].get<std::string>().find("exceeds SIDE_MAX_MESSAGE_SIZE") != std::string::npos)
      warning = object;
  }
  ASSERT_TRUE(warning.is_object()) << sidecar->output();
  EXPECT_EQ(warning["level"], "warning");
  EXPECT_EQ(warning["connection"], "2");
  EXPECT_EQ(warning["sidecarId"], kms_->registrations().front().sidecar_id);
}

TEST_F(SidecarIntakeTest, ConnectionsBeyondTheLimitAreClosedAndTheOthersServed) {
  auto sidecar = start_sidecar({{"SIDE_MAX_CONNECTIONS", "2"}, {"SIDE_BATCH_SIZE", "2"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  asio::io_context io;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), intake_port_);
  tcp::socket first(io), second(io), third(io);
  first.connect(endpoint);
  second.connect(endpoint);
  ASSERT_TRUE(sidecar->wait_for_output("intake connection 2 opened")) << sidecar->output();
  third.connect(endpoint);
  char byte;
  boost::system::error_code ec;
  third.read_some(asio::buffer(&byte, 1), ec);  // the sidecar never writes: this returns at close
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_NE(sidecar->output().find("SIDE_MAX_CONNECTIONS (2)"), std::string::npos) << sidecar->output();

  for (auto* socket : {&first, &second}) {
    const unsigned char frame[5] = {0, 0, 0, 1, 'x'};
    asio::write(*socket, asio::buffer(frame));
  }
  ASSERT_TRUE(wait_for_acknowledged_events(2)) << sidecar->output();
}

TEST_F(SidecarIntakeTest, StoresEmptyBinaryAndInvalidUtf8PayloadsByteForByte) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "3"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  const std::string with_nul("a\0b", 3);
  const std::string invalid = "caf\xC3";  // truncated UTF-8
  send_frames(intake_port_, {"", with_nul, invalid});
  ASSERT_TRUE(wait_for_acknowledged_events(3)) << sidecar->output();
  const auto rows = db_.query("SELECT encode(message, 'hex') FROM events ORDER BY sequence");
  EXPECT_EQ(std::string(rows[0][0].c_str()), "");
  EXPECT_EQ(std::string(rows[1][0].c_str()), "610062");
  EXPECT_EQ(std::string(rows[2][0].c_str()), "636166c3");
  const std::string data = db_.query("SELECT data FROM batches")[0][0].c_str();
  EXPECT_NE(data.find(R"("message":"a\u0000b")"), std::string::npos) << data;
  EXPECT_NE(data.find("\"message\":\"caf\xEF\xBF\xBD\""), std::string::npos) << data;
}

}  // namespace
}  // namespace fls::test
