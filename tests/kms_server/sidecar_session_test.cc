// One sidecar's connection to fls-kms (protocol.md §4, the server's side), as a state machine,
// without sockets or a database: a recording peer, an in-memory store and fixed keys. What is
// checked is what the sidecar would read: the frames, the close codes, and when they come
// (never before the store has committed what they answer).
#include "fls/kms_server/sidecar_session.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "counting_keys.h"
#include "fls/protocol/messages.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/row_signer.h"
#include "memory_kms_store.h"

namespace fls::kms {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kSidecar[] = "5eed0000-0000-4000-8000-000000000001";
constexpr char kBatch[] = "b0000000-0000-4000-8000-000000000001";
constexpr char kInquiry[] = "c0de0000-0000-4000-8000-000000000009";
constexpr char kToken[] = "fls_credential-token-for-the-tests";

class RecordingPeer final : public WsPeer {
 public:
  void send(std::string text) override { sent.push_back(std::move(text)); }
  void close(std::uint16_t code) override { closed_with = code; }
  void set_read_limit(std::size_t bytes) override { read_limit = bytes; }
  const std::string& remote() const override { return address_; }

  std::vector<std::string> sent;
  std::optional<std::uint16_t> closed_with;
  std::optional<std::size_t> read_limit;

 private:
  std::string address_ = "127.0.0.1:40000";
};

class RecordingHost final : public SessionHost {
 public:
  void sidecar_registered(const std::shared_ptr<SidecarSession>& session) override {
    registered.push_back(session->sidecar_id());
  }
  void sidecar_closed(const std::shared_ptr<SidecarSession>&) override { ++closed; }
  InquiryJudgement judge_inquiry_response(const std::string& sender, const std::string& inquiry_id, std::int64_t,
                                          std::int64_t, bool) override {
    judged.emplace_back(sender, inquiry_id);
    return judgement;
  }
  void inquiry_response_stored(const std::string& inquiry_id, std::optional<StoredResponse>) override {
    stored.push_back(inquiry_id);
  }

  std::vector<std::string> registered;
  int closed = 0;
  std::vector<std::pair<std::string, std::string>> judged;
  InquiryJudgement judgement;  // what judge answers
  std::vector<std::string> stored;
};

class SidecarSessionTest : public testing::Test {
 protected:
  SidecarSessionTest() {
    EXPECT_GE(sodium_init(), 0);
    store_.add_credential("cafe0000-0000-4000-8000-000000000001", "ledger", token_hash(kToken));
  }

  // A session as accept_sidecar makes one, opened on the recording peer.
  std::shared_ptr<SidecarSession> open(std::optional<TokenHash> token = token_hash(kToken)) {
    SessionSettings settings;
    settings.registration = RegistrationMode::token;
    settings.registration_timeout = registration_timeout_;
    settings.max_message_size = 1 << 20;
    auto session = std::make_shared<SidecarSession>(SessionContext{io_, store_, vault_, keys_, metrics_, settings},
                                                    host_, "127.0.0.1:40000", token);
    session->on_open(peer_);
    return session;
  }

  // Sends `text` and runs what the store answered; returns the frames that came back.
  std::vector<json> exchange(SidecarSession& session, const std::string& text) {
    const std::size_t before = peer_->sent.size();
    session.on_text(text);
    io_.restart();
    io_.poll();
    std::vector<json> out;
    for (std::size_t i = before; i < peer_->sent.size(); ++i) out.push_back(json::parse(peer_->sent[i]));
    return out;
  }

  json only_frame(SidecarSession& session, const std::string& text) {
    auto frames = exchange(session, text);
    EXPECT_EQ(frames.size(), 1u) << text;
    return frames.empty() ? json() : frames.front();
  }

  static std::string request(const std::string& id, const std::string& method, const json& params) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
  }

  // Registers and answers the challenge as a sidecar would; returns the register result.
  json register_and_pass(SidecarSession& session) {
    json result =
        only_frame(session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}))["result"];
    json copy = result;
    auto keys = protocol::decode_register_result(copy);
    EXPECT_TRUE(keys && keys->row_key && keys->batch_key);
    RowSigner row_signer(std::move(*keys->row_key));
    auto batch_signer = BatchSigner::from_secret_key(std::move(*keys->batch_key));
    EXPECT_TRUE(batch_signer);
    const json passed = only_frame(session, request("r2", "challenge",
                                                    {{"rowSignature", row_signer.sign_hex(keys->challenge)},
                                                     {"batchSignature", batch_signer->sign_hex(keys->challenge)}}));
    EXPECT_EQ(passed, json({{"jsonrpc", "2.0"}, {"id", "r2"}, {"result", {{"status", "OK"}}}}));
    return result;
  }

  boost::asio::io_context io_;
  test::MemoryKmsStore store_{io_};
  const KeyVault vault_{std::nullopt};
  test::CountingKeys keys_;
  KmsMetrics metrics_;
  std::shared_ptr<RecordingHost> host_ = std::make_shared<RecordingHost>();
  std::shared_ptr<RecordingPeer> peer_ = std::make_shared<RecordingPeer>();
  std::chrono::milliseconds registration_timeout_{60'000};
};

TEST_F(SidecarSessionTest, RegistersPassesTheChallengeAndIsAnsweredOnlyAfterTheStoreCommitted) {
  auto session = open();
  session->on_text(request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  EXPECT_TRUE(peer_->sent.empty()) << "answered before the registration was stored";
  io_.poll();
  ASSERT_EQ(peer_->sent.size(), 1u);
  const json result = json::parse(peer_->sent[0])["result"];
  EXPECT_EQ(result["id"], kSidecar);
  EXPECT_EQ(result["batchKey"].get<std::string>().size(), 128u);
  EXPECT_EQ(result["rowKey"].get<std::string>(), "0708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20212223242526");
  EXPECT_EQ(session->state(), SidecarSession::State::challenged);
  EXPECT_EQ(store_.statuses[kSidecar], "challenged");
  EXPECT_EQ(session->scope(), "cafe0000-0000-4000-8000-000000000001");
}

TEST_F(SidecarSessionTest, APassedChallengeRegistersAndRaisesTheMessageLimit) {
  auto session = open();
  register_and_pass(*session);
  EXPECT_EQ(session->state(), SidecarSession::State::registered);
  EXPECT_EQ(store_.statuses[kSidecar], "registered");
  EXPECT_EQ(host_->registered, std::vector<std::string>{kSidecar});
  EXPECT_EQ(peer_->read_limit, std::size_t{1} << 20);
  EXPECT_FALSE(peer_->closed_with);
  EXPECT_EQ(metrics_.registrations, 1u);
}

TEST_F(SidecarSessionTest, ABadBatchSignatureIsCheckedFirstSuspendsAndCloses) {
  auto session = open();
  only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  const json refused =
      only_frame(*session, request("r2", "challenge", {{"rowSignature", "00"}, {"batchSignature", "00"}}));
  EXPECT_EQ(refused["error"]["code"], 40004);
  EXPECT_EQ(refused["error"]["message"], "Invalid batch signature");
  EXPECT_EQ(store_.statuses[kSidecar], "suspended");
  EXPECT_EQ(peer_->closed_with, SidecarSession::websocket_normal);
  EXPECT_TRUE(host_->registered.empty());
}

TEST_F(SidecarSessionTest, ABadRowSignatureIsRefusedToo) {
  auto session = open();
  json result =
      only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}))["result"];
  auto keys = protocol::decode_register_result(result);
  ASSERT_TRUE(keys && keys->batch_key);
  auto batch_signer = BatchSigner::from_secret_key(std::move(*keys->batch_key));
  ASSERT_TRUE(batch_signer);
  const json refused = only_frame(*session, request("r2", "challenge",
                                                    {{"rowSignature", std::string(32, '0')},
                                                     {"batchSignature", batch_signer->sign_hex(keys->challenge)}}));
  EXPECT_EQ(refused["error"]["code"], 40005);
  EXPECT_EQ(store_.statuses[kSidecar], "suspended");
}

TEST_F(SidecarSessionTest, NothingButRegisterIsAcceptedBeforeRegistration) {
  auto session = open();
  const json answer = only_frame(*session, request("b1", "batch", {{"id", kBatch}, {"signature", "5151"}}));
  EXPECT_EQ(answer["error"]["code"], -32601);
  EXPECT_TRUE(store_.batches.empty());
  EXPECT_EQ(only_frame(*session,
                       request("c1", "challenge", {{"rowSignature", "a"}, {"batchSignature", "b"}}))["error"]["code"],
            -32601);
}

TEST_F(SidecarSessionTest, BatchesAreStoredOnceEachInTheirScope) {
  auto session = open();
  register_and_pass(*session);
  EXPECT_EQ(only_frame(*session, request("b1", "batch", {{"id", kBatch}, {"signature", "5151"}})),
            json({{"jsonrpc", "2.0"}, {"id", "b1"}, {"result", {{"id", kBatch}}}}));
  const json repeated = only_frame(*session, request("b2", "BATCH", {{"id", kBatch}, {"signature", "5151"}}));
  EXPECT_EQ(repeated["error"]["code"], 120);
  EXPECT_EQ(store_.batches.count({"cafe0000-0000-4000-8000-000000000001", kBatch}), 1u);
  EXPECT_EQ(metrics_.batches_received, 1u);
  EXPECT_EQ(only_frame(*session, request("b3", "batch", {{"id", "nope"}, {"signature", "5151"}}))["error"]["code"],
            -32602);
}

TEST_F(SidecarSessionTest, WithoutAValidCredentialTheRegistrationIsRefusedAndTheConnectionClosed) {
  auto session = open(token_hash("fls_some-other-token-entirely"));
  const json refused = only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  EXPECT_EQ(refused["error"]["code"], 40100);
  EXPECT_EQ(peer_->closed_with, SidecarSession::websocket_policy_violation);
  EXPECT_EQ(session->state(), SidecarSession::State::refused);
  // Closing: nothing more is answered.
  EXPECT_TRUE(exchange(*session, request("r2", "register", {{"id", kSidecar}, {"serviceName", "ledger"}})).empty());
  EXPECT_EQ(metrics_.registrations_refused, 1u);
}

TEST_F(SidecarSessionTest, ACredentialOfAnotherServiceDoesNotRegister) {
  auto session = open();
  const json refused = only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "treasury"}}));
  EXPECT_EQ(refused["error"]["code"], 40100);
}

TEST_F(SidecarSessionTest, AStoreFailureIsAnInternalErrorAndTheSidecarMayTryAgain) {
  auto session = open();
  store_.fail_next();
  const json failed = only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  EXPECT_EQ(failed["error"]["code"], -32603);
  EXPECT_EQ(session->state(), SidecarSession::State::connected);
  EXPECT_TRUE(only_frame(*session, request("r2", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}))
                  .contains("result"));
}

TEST_F(SidecarSessionTest, AnIdThatExistsIsRefusedWithoutClosing) {
  store_.statuses[kSidecar] = "terminated";
  auto session = open();
  const json refused = only_frame(*session, request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  EXPECT_EQ(refused["error"]["code"], 40001);
  EXPECT_FALSE(peer_->closed_with);
  EXPECT_EQ(session->state(), SidecarSession::State::connected);
}

TEST_F(SidecarSessionTest, ClosingWhileTheRegistrationIsStoredMarksItTerminated) {
  auto session = open();
  session->on_text(request("r1", "register", {{"id", kSidecar}, {"serviceName", "ledger"}}));
  session->on_closed("peer went away");
  io_.poll();
  io_.restart();
  io_.poll();
  EXPECT_EQ(store_.statuses[kSidecar], "terminated");
  EXPECT_TRUE(peer_->sent.empty());
  EXPECT_EQ(host_->closed, 1);
}

TEST_F(SidecarSessionTest, InquiryResponsesAreJudgedByTheHostAndKeptWithTheirProblem) {
  auto session = open();
  register_and_pass(*session);
  host_->judgement = InquiryJudgement{{}, std::string("item 1 came twice"), 7};
  EXPECT_TRUE(
      exchange(*session, request("i1", "inquiry-response",
                                 {{"inquiry", kInquiry}, {"id", kBatch}, {"body", "[]"}, {"total", 1}, {"item", 1}}))
          .empty());  // never answered
  ASSERT_EQ(store_.responses.size(), 1u);
  EXPECT_EQ(store_.responses[0].first, kInquiry);
  EXPECT_EQ(store_.responses[0].second.problem, "item 1 came twice");
  EXPECT_EQ(store_.responses[0].second.batch_id, kBatch);
  EXPECT_EQ(store_.responses[0].second.arrival, 7);  // the place the host gave it
  // Verified within the sender's registration: its credential and service.
  EXPECT_EQ(store_.senders.at(0).scope, session->scope());
  EXPECT_EQ(store_.senders.at(0).service_name, "ledger");
  EXPECT_EQ(host_->stored, std::vector<std::string>{kInquiry});
  EXPECT_EQ(host_->judged.at(0), std::make_pair(std::string(kSidecar), std::string(kInquiry)));

  host_->judgement = InquiryJudgement{"it is not open", std::nullopt};
  exchange(*session, request("i2", "inquiry-response", {{"inquiry", kInquiry}, {"total", 0}, {"item", 0}}));
  EXPECT_EQ(store_.responses.size(), 1u) << "a response to an inquiry that is not open was stored";
  EXPECT_EQ(metrics_.inquiry_responses_refused, 2u);
}

TEST_F(SidecarSessionTest, AHealthCheckReplyCompletesItOnce) {
  auto session = open();
  register_and_pass(*session);
  session->send_healthcheck("aaaa0000-0000-4000-8000-000000000001", "ping");
  EXPECT_EQ(json::parse(peer_->sent.back()), json({{"jsonrpc", "2.0"},
                                                   {"id", "aaaa0000-0000-4000-8000-000000000001"},
                                                   {"method", "healthcheck"},
                                                   {"params", {{"level", "ping"}}}}));
  exchange(*session, R"({"jsonrpc":"2.0","id":"AAAA0000-0000-4000-8000-000000000001","result":{"uptime":5}})");
  EXPECT_EQ(store_.healthcheck_responses.at("aaaa0000-0000-4000-8000-000000000001"), json({{"uptime", 5}}));
  // A second reply matches nothing any more.
  exchange(*session, R"({"jsonrpc":"2.0","id":"aaaa0000-0000-4000-8000-000000000001","error":{"code":1}})");
  EXPECT_EQ(store_.healthcheck_responses.at("aaaa0000-0000-4000-8000-000000000001"), json({{"uptime", 5}}));
}

TEST_F(SidecarSessionTest, MalformedTextIsAnsweredAndTheSessionStays) {
  auto session = open();
  const json answer = only_frame(*session, "{not json");
  EXPECT_EQ(answer["error"]["code"], -32700);
  EXPECT_TRUE(answer["id"].is_null());
  EXPECT_FALSE(peer_->closed_with);
  EXPECT_EQ(session->state(), SidecarSession::State::connected);
}

TEST_F(SidecarSessionTest, AConnectionThatDoesNotRegisterInTimeIsClosed) {
  registration_timeout_ = 20ms;
  auto session = open();
  io_.restart();
  // Bounded: the timer is 20 ms; the loop gives up after two seconds.
  for (const auto until = std::chrono::steady_clock::now() + 2s;
       !peer_->closed_with && std::chrono::steady_clock::now() < until;) {
    io_.run_one_for(100ms);
  }
  EXPECT_EQ(peer_->closed_with, SidecarSession::websocket_policy_violation);
}

}  // namespace
}  // namespace fls::kms
