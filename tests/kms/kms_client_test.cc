// The sidecar's KMS client (protocol.md §4) driven in-process: its WebSocket is a fake
// (tests/support/fake_ws_transport.h), the test plays the KMS by answering what the client sent.
// Signatures are checked with OpenSSL (independent_crypto.h), not with the client's own signers.
#include "fls/kms/kms_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "counting_ids.h"
#include "fake_ws_transport.h"
#include "fls/common/clock.h"
#include "fls/common/version.h"
#include "independent_crypto.h"

namespace fls {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using test::FakeWsTransport;

constexpr EpochMillis kNow = 1'500'041'775'123;  // 2017-07-14T14:16:15.123Z

class FixedClock final : public Clock {
 public:
  EpochMillis now_ms() const override { return kNow; }
};

class RecordingBackend final : public KmsBackend {
 public:
  void registered(Registration registration) override { registrations.push_back(registration.sidecar_id); }
  void acknowledged(std::string batch_id) override { acknowledged_ids.push_back(std::move(batch_id)); }
  std::uint64_t events_last_hour() override { return 42; }
  void answer_inquiry(InquiryRequest request, std::shared_ptr<InquiryReplies> replies) override {
    inquiries.push_back(std::move(request));
    inquiry_replies.push_back(std::move(replies));
  }

  std::vector<std::string> registrations;
  std::vector<std::string> acknowledged_ids;
  std::vector<InquiryRequest> inquiries;
  std::vector<std::shared_ptr<InquiryReplies>> inquiry_replies;
};

// Keys as the KMS would issue them, made by OpenSSL.
struct IssuedKeys {
  test::Ed25519Pair batch = test::ed25519_from_seed(test::random_bytes(32));
  test::Bytes row = test::random_bytes(32);
};

class KmsClientTest : public testing::Test {
 protected:
  KmsClientTest() {
    options_.url = KmsUrl{false, "localhost", 8080, "/sidecar"};
    options_.url_text = "ws://localhost:8080/sidecar";
    options_.service_name = "UnitService";
    options_.reconnect_interval = std::chrono::milliseconds(0);
  }

  ~KmsClientTest() override {
    if (client_) {
      client_->stop();
      pump();
      client_.reset();
      pump();
    }
  }

  void start() {
    auto factory = [this](WsEvents events) -> std::shared_ptr<WsTransport> {
      auto transport = std::make_shared<FakeWsTransport>(
          io_, std::move(events), [this](const std::string& text) { sent_.push_back(json::parse(text)); });
      transports_.push_back(transport);
      return transport;
    };
    client_ = std::make_shared<KmsClient>(io_, factory, clock_, ids_, backend_, options_);
    client_->start();
    pump();
  }

  void pump() {
    io_.restart();
    io_.poll();
  }

  // Runs the io_context until `done` holds or `limit` passes (for the client's real-time timers).
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  FakeWsTransport& transport() { return *transports_.back(); }

  // What the client sent with this method, oldest first.
  std::vector<json> sent_with(const std::string& method) const {
    std::vector<json> out;
    for (const auto& message : sent_) {
      if (message.value("method", "") == method) out.push_back(message);
    }
    return out;
  }

  void deliver(const json& message) {
    transport().deliver(message.dump());
    pump();
  }

  // Answers the newest register request; returns the sidecar id it asked for.
  std::string answer_register(const IssuedKeys& keys, const std::string& challenge = "unit challenge") {
    const json request = sent_with("register").back();
    const std::string sidecar_id = request["params"]["id"];
    deliver({{"jsonrpc", "2.0"},
             {"id", request["id"]},
             {"result",
              {{"id", sidecar_id},
               {"batchKey", test::hex(keys.batch.secret_key())},
               {"rowKey", test::hex(keys.row)},
               {"challenge", challenge}}}});
    return sidecar_id;
  }

  void answer_challenge() {
    deliver({{"jsonrpc", "2.0"}, {"id", sent_with("challenge").back()["id"]}, {"result", {{"status", "OK"}}}});
  }

  std::string register_fully() {
    const std::string id = answer_register(keys_);
    answer_challenge();
    return id;
  }

  static std::vector<BatchToSend> batches(int count, int first = 1) {
    std::vector<BatchToSend> out;
    for (int i = first; i < first + count; ++i) {
      out.push_back(
          {"00000000-0000-4000-9000-" + std::string(11 - std::to_string(i).size(), '0') + "0" + std::to_string(i),
           std::string(128, 'a')});
    }
    return out;
  }

  void answer(const json& request, const json& result) {
    deliver({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", result}});
  }
  void answer_error(const json& request, int code, const std::string& message) {
    deliver({{"jsonrpc", "2.0"}, {"id", request["id"]}, {"error", {{"code", code}, {"message", message}}}});
  }

  asio::io_context io_;
  FixedClock clock_;
  test::CountingIds ids_;
  RecordingBackend backend_;
  KmsClientOptions options_;
  IssuedKeys keys_;
  std::vector<std::shared_ptr<FakeWsTransport>> transports_;
  std::vector<json> sent_;
  std::shared_ptr<KmsClient> client_;
};

TEST_F(KmsClientTest, RegistersOnOpenWithAFreshIdAndTheServiceName) {
  start();
  ASSERT_EQ(sent_.size(), 1u);
  const json& request = sent_[0];
  EXPECT_EQ(request["jsonrpc"], "2.0");
  EXPECT_EQ(request["method"], "register");
  ASSERT_TRUE(request["id"].is_string());
  EXPECT_EQ(request["params"]["serviceName"], "UnitService");
  ASSERT_TRUE(request["params"]["id"].is_string());
  // The request id and the sidecar id are two different fresh ids.
  EXPECT_NE(request["params"]["id"], request["id"]);
  EXPECT_TRUE(client_->status().connected);
  EXPECT_FALSE(client_->status().registered);
}

TEST_F(KmsClientTest, ChallengeIsSignedWithTheKeysItWasGiven) {
  start();
  answer_register(keys_, "the challenge text");
  const auto challenges = sent_with("challenge");
  ASSERT_EQ(challenges.size(), 1u);
  const json& params = challenges[0]["params"];
  EXPECT_EQ(params["rowSignature"], test::hex(test::rfc4493_cmac(keys_.row, "the challenge text")));
  const std::string batch_signature = params["batchSignature"];
  EXPECT_EQ(batch_signature.size(), 128u);
  EXPECT_TRUE(test::ed25519_verify(keys_.batch.public_key, "the challenge text", test::unhex(batch_signature)));
  EXPECT_FALSE(test::ed25519_verify(keys_.batch.public_key, "another text", test::unhex(batch_signature)));
  EXPECT_TRUE(backend_.registrations.empty()) << "registered before the challenge passed";
}

TEST_F(KmsClientTest, AcceptsUpperCaseKeysAsTheCentralKmsSendsThem) {
  start();
  const json request = sent_with("register").back();
  std::string batch_key = test::hex(keys_.batch.secret_key());
  std::string row_key = test::hex(keys_.row);
  for (std::string* key : {&batch_key, &row_key}) {
    for (char& c : *key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  deliver({{"jsonrpc", "2.0"},
           {"id", request["id"]},
           {"result",
            {{"id", request["params"]["id"]}, {"batchKey", batch_key}, {"rowKey", row_key}, {"challenge", "c"}}}});
  const auto challenges = sent_with("challenge");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0]["params"]["rowSignature"], test::hex(test::rfc4493_cmac(keys_.row, "c")));
}

TEST_F(KmsClientTest, ARowKeyOfTheWrongLengthDropsTheConnection) {
  start();
  const json request = sent_with("register").back();
  deliver({{"jsonrpc", "2.0"},
           {"id", request["id"]},
           {"result",
            {{"id", request["params"]["id"]},
             {"batchKey", test::hex(keys_.batch.secret_key())},
             {"rowKey", test::hex(test::random_bytes(16))},
             {"challenge", "c"}}}});
  EXPECT_TRUE(sent_with("challenge").empty());
  EXPECT_TRUE(transports_.front()->closed());
}

TEST_F(KmsClientTest, RegisteredAfterTheChallengePassed) {
  start();
  const std::string id = register_fully();
  ASSERT_EQ(backend_.registrations.size(), 1u);
  EXPECT_EQ(backend_.registrations[0], id);
  EXPECT_TRUE(client_->status().registered);
  EXPECT_EQ(client_->status().sidecar_id, id);
}

TEST_F(KmsClientTest, AFailedChallengeDropsTheConnection) {
  start();
  answer_register(keys_);
  answer_error(sent_with("challenge").back(), 40004, "Bad batch signature");
  EXPECT_TRUE(backend_.registrations.empty());
  EXPECT_TRUE(transports_.front()->closed());
}

TEST_F(KmsClientTest, BatchesOnlyAfterTheChallenge) {
  start();
  const std::string id = answer_register(keys_);
  client_->send(id, batches(2));
  pump();
  EXPECT_TRUE(sent_with("batch").empty()) << "a batch went out before the challenge passed";

  answer_challenge();
  client_->send(id, batches(2));
  pump();
  const auto sent = sent_with("batch");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["params"]["id"], batches(1)[0].batch_id);
  EXPECT_EQ(sent[0]["params"]["signature"], std::string(128, 'a'));
}

TEST_F(KmsClientTest, BatchesForAnotherSidecarIdAreNotSent) {
  start();
  register_fully();
  client_->send("00000000-0000-4000-8000-0000000000ff", batches(1));
  pump();
  EXPECT_TRUE(sent_with("batch").empty());
}

TEST_F(KmsClientTest, KeepsAtMostTheInFlightLimitOutstanding) {
  options_.max_batches_in_flight = 2;
  start();
  const std::string id = register_fully();
  client_->send(id, batches(5));
  pump();
  auto sent = sent_with("batch");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(client_->status().batches_waiting, 5u);

  answer(sent[0], {{"id", sent[0]["params"]["id"]}});
  sent = sent_with("batch");
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2]["params"]["id"], batches(1, 3)[0].batch_id);  // in order
  EXPECT_EQ(backend_.acknowledged_ids, std::vector<std::string>{batches(1)[0].batch_id});
  EXPECT_EQ(client_->status().batches_waiting, 4u);
  EXPECT_EQ(client_->status().batches_acknowledged, 1u);
}

TEST_F(KmsClientTest, Error120CountsAsAcknowledged) {
  start();
  const std::string id = register_fully();
  client_->send(id, batches(1));
  pump();
  answer_error(sent_with("batch").back(), 120, "Batch already exists");
  EXPECT_EQ(backend_.acknowledged_ids, std::vector<std::string>{batches(1)[0].batch_id});
  EXPECT_FALSE(transport().closed());
  EXPECT_TRUE(client_->status().registered);
}

TEST_F(KmsClientTest, AnotherBatchErrorDropsTheConnectionUnacknowledged) {
  start();
  const std::string id = register_fully();
  client_->send(id, batches(1));
  pump();
  answer_error(sent_with("batch").back(), -32603, "Internal error");
  EXPECT_TRUE(backend_.acknowledged_ids.empty());
  EXPECT_TRUE(transports_.front()->closed());
}

TEST_F(KmsClientTest, WhenDeliveredWaitsForTheAcknowledgement) {
  start();
  const std::string id = register_fully();
  client_->send(id, batches(1));
  pump();
  bool delivered = false;
  client_->when_delivered([&] { delivered = true; });
  pump();
  EXPECT_FALSE(delivered);
  answer(sent_with("batch").back(), {{"id", batches(1)[0].batch_id}});
  EXPECT_TRUE(delivered);
}

TEST_F(KmsClientTest, ARequestWithoutAnswerDropsTheConnection) {
  options_.request_timeout = std::chrono::milliseconds(30);
  options_.reconnect_interval = std::chrono::hours(1);  // stay on the first connection
  start();
  ASSERT_FALSE(transport().closed());
  EXPECT_TRUE(run_until([&] { return transports_.front()->closed(); })) << "the unanswered register never timed out";
}

TEST_F(KmsClientTest, AnAnsweredRequestDoesNotTimeOut) {
  options_.request_timeout = std::chrono::milliseconds(100);
  start();
  register_fully();
  // Long past the register and challenge requests' deadlines: both were answered.
  run_until([] { return false; }, std::chrono::milliseconds(250));
  EXPECT_FALSE(transports_.front()->closed());
  EXPECT_EQ(transports_.size(), 1u);
}

TEST_F(KmsClientTest, ReconnectsAfterACloseAndRegistersWithANewId) {
  start();
  const std::string first = register_fully();
  transport().peer_closes();
  pump();
  ASSERT_TRUE(run_until(
      [&] { return transports_.size() == 2 && !sent_with("register").empty() && sent_with("register").size() == 2; }));
  const auto registers = sent_with("register");
  EXPECT_NE(registers[1]["params"]["id"], first);
  EXPECT_NE(registers[1]["id"], registers[0]["id"]);
  EXPECT_FALSE(client_->status().registered);
  EXPECT_EQ(client_->status().reconnects, 1u);

  // Batches for the old id are no longer sent; the new registration works.
  client_->send(first, batches(1));
  pump();
  EXPECT_TRUE(sent_with("batch").empty());
  const std::string second = register_fully();
  EXPECT_EQ(backend_.registrations, (std::vector<std::string>{first, second}));
}

// The KMS may already hold an id whose registration was cut off (40001): never offer it again.
TEST_F(KmsClientTest, AConnectionLostDuringRegistrationReconnectsWithANewId) {
  start();
  answer_register(keys_);  // challenging
  transport().peer_closes();
  pump();
  ASSERT_TRUE(run_until([&] { return sent_with("register").size() == 2; }));
  const auto registers = sent_with("register");
  EXPECT_NE(registers[1]["params"]["id"], registers[0]["params"]["id"]);
  EXPECT_TRUE(backend_.registrations.empty());
}

TEST_F(KmsClientTest, StopDoesNotReconnect) {
  start();
  register_fully();
  client_->stop();
  pump();
  run_until([] { return false; }, std::chrono::milliseconds(50));
  EXPECT_TRUE(transports_.front()->closed());
  EXPECT_EQ(transports_.size(), 1u);
}

TEST_F(KmsClientTest, HealthcheckReplyFields) {
  start();
  const std::string id = register_fully();
  deliver({{"jsonrpc", "2.0"}, {"id", "hc-1"}, {"method", "healthcheck"}, {"params", {{"level", "ping"}}}});
  const json& reply = sent_.back();
  EXPECT_EQ(reply["jsonrpc"], "2.0");
  EXPECT_EQ(reply["id"], "hc-1");
  ASSERT_TRUE(reply.contains("result")) << reply.dump();
  const json& result = reply["result"];
  EXPECT_EQ(result["id"], id);
  EXPECT_EQ(result["version"], kVersion);
  EXPECT_EQ(result["current"], "2017-07-14T14:16:15.123Z");
  ASSERT_TRUE(result["uptime"].is_number());
  EXPECT_GE(result["uptime"].get<double>(), 0);
  EXPECT_EQ(result["eventCountLastHour"], 42);
}

TEST_F(KmsClientTest, HealthcheckMethodIsCaseInsensitiveAndAnyLevelIsAnswered) {
  start();
  register_fully();
  deliver({{"jsonrpc", "2.0"}, {"id", 7}, {"method", "HealthCheck"}, {"params", {{"level", "deep"}}}});
  EXPECT_EQ(sent_.back()["id"], 7);
  EXPECT_EQ(sent_.back()["result"]["eventCountLastHour"], 42);
}

TEST_F(KmsClientTest, UnknownMethodGetsMethodNotFound) {
  start();
  register_fully();
  deliver({{"jsonrpc", "2.0"}, {"id", "x-1"}, {"method", "reboot"}, {"params", json::object()}});
  const json& reply = sent_.back();
  EXPECT_EQ(reply["id"], "x-1");
  EXPECT_EQ(reply["error"]["code"], -32601);
  EXPECT_FALSE(transport().closed());
}

TEST_F(KmsClientTest, MalformedJsonGetsParseErrorWithNullId) {
  start();
  const std::size_t before = sent_.size();
  transport().deliver("{\"jsonrpc\":\"2.0\",\"id\":\"q\",");
  pump();
  ASSERT_EQ(sent_.size(), before + 1);
  const json& reply = sent_.back();
  EXPECT_EQ(reply["jsonrpc"], "2.0");
  ASSERT_TRUE(reply.contains("id"));
  EXPECT_TRUE(reply["id"].is_null());
  EXPECT_EQ(reply["error"]["code"], -32700);
  EXPECT_FALSE(transport().closed());
}

TEST_F(KmsClientTest, AReplyMatchingNoRequestIsIgnored) {
  start();
  const std::size_t before = sent_.size();
  deliver({{"jsonrpc", "2.0"}, {"id", "no-such-request"}, {"result", {{"status", "OK"}}}});
  EXPECT_EQ(sent_.size(), before);
  EXPECT_FALSE(transport().closed());
  EXPECT_TRUE(backend_.registrations.empty());
}

TEST_F(KmsClientTest, InquiryCallsTheBackendAndItsRepliesGoOut) {
  start();
  register_fully();
  deliver({{"jsonrpc", "2.0"},
           {"id", "inq-1"},
           {"method", "inquiry"},
           {"params",
            {{"inquiry", "inq-1"}, {"startTime", "2017-07-14T14:16:15Z"}, {"endTime", "2017-07-14T15:16:15.5Z"}}}});
  ASSERT_EQ(backend_.inquiries.size(), 1u);
  EXPECT_EQ(backend_.inquiries[0].inquiry_id, "inq-1");
  EXPECT_EQ(backend_.inquiries[0].start.epoch_seconds, 1'500'041'775);
  EXPECT_EQ(backend_.inquiries[0].start.nanos, 0);
  EXPECT_EQ(backend_.inquiries[0].end.epoch_seconds, 1'500'045'375);
  EXPECT_EQ(backend_.inquiries[0].end.nanos, 500'000'000);

  // The backend answers off the I/O thread; send() blocks until the messages are written.
  auto sent_ok = std::async(std::launch::async, [replies = backend_.inquiry_replies[0]] {
    return replies->send(2, 1, {{"b-1", "[1]"}, {"b-2", "[2]"}});
  });
  ASSERT_TRUE(run_until([&] { return sent_ok.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }));
  EXPECT_TRUE(sent_ok.get());
  const auto responses = sent_with("inquiry-response");
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0]["params"]["inquiry"], "inq-1");
  EXPECT_EQ(responses[0]["params"]["id"], "b-1");
  EXPECT_EQ(responses[0]["params"]["body"], "[1]");
  EXPECT_EQ(responses[0]["params"]["total"], 2);
  EXPECT_EQ(responses[0]["params"]["item"], 1);
  EXPECT_EQ(responses[1]["params"]["item"], 2);
  EXPECT_NE(responses[0]["id"], responses[1]["id"]);
  EXPECT_NE(responses[0]["id"], "inq-1");
}

TEST_F(KmsClientTest, InquiryWithoutValidTimesGetsInvalidParams) {
  start();
  register_fully();
  deliver({{"jsonrpc", "2.0"}, {"id", "inq-2"}, {"method", "inquiry"}, {"params", {{"inquiry", "inq-2"}}}});
  EXPECT_TRUE(backend_.inquiries.empty());
  EXPECT_EQ(sent_.back()["id"], "inq-2");
  EXPECT_EQ(sent_.back()["error"]["code"], -32602);
}

TEST_F(KmsClientTest, SendsPingsAtTheInterval) {
  // Long enough against the 5 ms steps of run_until on a loaded machine.
  options_.ping_interval = std::chrono::milliseconds(50);
  start();
  // Activity (the fake's replies) keeps the connection alive past the first ping.
  EXPECT_TRUE(run_until([&] {
    transport().deliver(R"({"jsonrpc":"2.0","id":"keepalive","result":{}})");
    return transport().pings() >= 2;
  }));
  EXPECT_FALSE(transports_.front()->closed());
}

TEST_F(KmsClientTest, NoFrameAfterAPingDropsTheConnection) {
  options_.ping_interval = std::chrono::milliseconds(10);
  options_.reconnect_interval = std::chrono::hours(1);
  start();
  EXPECT_TRUE(run_until([&] { return transports_.front()->closed(); }));
  EXPECT_GE(transports_.front()->pings(), 1);
}

}  // namespace
}  // namespace fls
