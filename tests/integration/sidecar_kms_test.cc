// The sidecar against a KMS peer: registration, batches, health checks, inquiries, reconnection.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "sidecar_fixture.h"

namespace fls::test {
namespace {

using json = nlohmann::json;

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

class SidecarKmsTest : public SidecarFixture {};

TEST_F(SidecarKmsTest, RegistersWithAFreshIdAndPassesTheChallenge) {
  auto sidecar = start_sidecar();
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; })) << sidecar->output();
  const auto registration = kms_->registrations().front();
  EXPECT_EQ(registration.service_name, "LedgerUnderTest");
  EXPECT_TRUE(std::regex_match(registration.sidecar_id,
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_TRUE(wait_for_count("SELECT count(*) FROM sidecars WHERE sidecar_id = '" + registration.sidecar_id +
                                 "' AND batch_public_key = '" + hex(registration.batch_key.public_key) + "'",
                             1));
  // The keys never reach the log.
  EXPECT_EQ(sidecar->output().find(hex(registration.row_key)), std::string::npos);
  EXPECT_EQ(sidecar->output().find(hex(registration.batch_key.seed)), std::string::npos);
}

TEST_F(SidecarKmsTest, StoresSignsAndBatchesAThousandMessagesFromConcurrentClients) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_TIME_INTERVAL", "500"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int chunk = 0; chunk < 5; ++chunk) {
        send_frames(intake_port_,
                    numbered("client " + std::to_string(c) + " chunk " + std::to_string(chunk) + " message ", 50));
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_TRUE(wait_for_acknowledged_events(1000)) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 1000);
  EXPECT_EQ(db_.count("SELECT count(DISTINCT convert_from(message, 'UTF8')) FROM events"), 1000);
  // Full batches hold SIDE_BATCH_SIZE (64) rows; only time-closed ones may hold fewer.
  EXPECT_GE(db_.count("SELECT count(*) FROM batches WHERE data IS NOT NULL"), 1000 / 64);
  EXPECT_EQ(verify_everything_stored(), 1000u);
}

TEST_F(SidecarKmsTest, ClosesABatchWhenTheTimeIntervalPasses) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_TIME_INTERVAL", "300"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, {"one", "two", "three"});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->batch_count_locked() == 1; })) << sidecar->output();
  ASSERT_TRUE(wait_for_acknowledged_events(3));
  EXPECT_EQ(db_.count("SELECT count(*) FROM events WHERE batch_id = (SELECT batch_id FROM batches)"), 3);
  EXPECT_EQ(verify_everything_stored(), 3u);
}

TEST_F(SidecarKmsTest, AnswersAHealthCheckWithItsIdVersionTimeUptimeAndEventCount) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "2"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, {"a", "b", "c", "d"});
  ASSERT_TRUE(wait_for_acknowledged_events(4));
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"hc-1","method":"healthcheck","params":{"level":"ping"}})");
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->reply_count_locked() == 1; }));
  const json reply = kms_->replies().front();
  EXPECT_EQ(reply["jsonrpc"], "2.0");
  EXPECT_EQ(reply["id"], "hc-1");
  const json& result = reply["result"];
  EXPECT_EQ(result["id"], kms_->registrations().front().sidecar_id);
  EXPECT_TRUE(result["version"].is_string());
  EXPECT_TRUE(
      std::regex_match(result["current"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  EXPECT_TRUE(result["uptime"].is_number_integer());
  EXPECT_GT(result["uptime"].get<long long>(), 0);
  EXPECT_EQ(result["eventCountLastHour"], 4);
}

TEST_F(SidecarKmsTest, AnswersAnInquiryWithEveryBatchInTheWindowOldestFirst) {
  // 70 batches: more than one page of the sidecar's inquiry query (64).
  constexpr std::size_t kBatches = 70;
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "1"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, numbered("m", kBatches));
  ASSERT_TRUE(wait_for_acknowledged_events(kBatches));
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"inq-1","method":"inquiry","params":{"inquiry":"inq-1",)"
                        R"("startTime":"2000-01-01T00:00:00Z","endTime":"2999-12-31T23:59:59.999999Z"}})");
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->method_count_locked("inquiry-response") == kBatches; }))
      << sidecar->output();
  const auto responses = kms_->messages_with_method("inquiry-response");
  const auto stored = db_.query("SELECT batch_id, data FROM batches ORDER BY created, batch_id");
  ASSERT_EQ(stored.size(), kBatches);
  for (std::size_t i = 0; i < kBatches; ++i) {
    const json& params = responses[i]["params"];
    EXPECT_EQ(params["inquiry"], "inq-1");
    EXPECT_EQ(params["id"], stored[i][0].c_str());
    EXPECT_EQ(params["body"], stored[i][1].c_str());
    EXPECT_EQ(params["total"], kBatches);
    EXPECT_EQ(params["item"], i + 1);
    EXPECT_NE(responses[i]["id"], "inq-1");  // a fresh request id
  }
  // The inquiry itself gets no JSON-RPC reply.
  EXPECT_TRUE(kms_->replies().empty());
}

TEST_F(SidecarKmsTest, AnswersAnInquiryOverAnEmptyWindowWithTotalZero) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "1"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, {"outside the window"});
  ASSERT_TRUE(wait_for_acknowledged_events(1));
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"inq-2","method":"inquiry","params":{"inquiry":"inq-2",)"
                        R"("startTime":"2001-01-01T00:00:00.000Z","endTime":"2001-01-02T00:00:00.000Z"}})");
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->method_count_locked("inquiry-response") == 1; }));
  const json params = kms_->messages_with_method("inquiry-response").front()["params"];
  EXPECT_EQ(params, (json{{"inquiry", "inq-2"}, {"total", 0}, {"item", 0}}));
}

TEST_F(SidecarKmsTest, AnswersUnknownMethodsAndMalformedJsonWithErrors) {
  auto sidecar = start_sidecar();
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"x-1","method":"launchRockets","params":{}})");
  kms_->send_to_sidecar("{not json");
  kms_->send_to_sidecar(
      R"({"jsonrpc":"2.0","id":"x-2","method":"inquiry","params":{"inquiry":"i","startTime":"yesterday"}})");
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"hc","method":"HealthCheck","params":{"level":"deep"}})");
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->reply_count_locked() == 4; })) << sidecar->output();
  const auto replies = kms_->replies();
  EXPECT_EQ(replies[0]["id"], "x-1");
  EXPECT_EQ(replies[0]["error"]["code"], -32601);
  EXPECT_TRUE(replies[1]["id"].is_null());
  EXPECT_EQ(replies[1]["error"]["code"], -32700);
  EXPECT_EQ(replies[2]["id"], "x-2");
  EXPECT_EQ(replies[2]["error"]["code"], -32602);
  EXPECT_EQ(replies[3]["id"], "hc");
  EXPECT_TRUE(replies[3]["result"].contains("eventCountLastHour"));
  // Still connected and registered only once: nothing above broke the link.
  EXPECT_EQ(kms_->registrations().size(), 1u);
}

// nlohmann::json copies values recursively: an id nested 80,000 deep used to crash the sidecar
// the moment it was copied for the reply. Such a request is refused before it is parsed.
TEST_F(SidecarKmsTest, RefusesARequestNestedTooDeeplyAndStaysUp) {
  auto sidecar = start_sidecar();
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  const std::string deep(80'000, '[');
  const std::string closed(80'000, ']');
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":)" + deep + closed + R"(,"method":"healthcheck","params":{}})");
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"i-1","method":"inquiry","params":)" + deep + closed + "}");
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":[1],"method":"healthcheck","params":{"level":"ping"}})");
  kms_->send_to_sidecar(R"({"jsonrpc":"2.0","id":"hc","method":"healthcheck","params":{"level":"ping"}})");
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->reply_count_locked() == 4; })) << sidecar->output();
  const auto replies = kms_->replies();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(replies[i]["id"].is_null()) << replies[i].dump();
    EXPECT_EQ(replies[i]["error"]["code"], -32600) << replies[i].dump();
  }
  EXPECT_EQ(replies[3]["id"], "hc");
  EXPECT_TRUE(replies[3]["result"].contains("eventCountLastHour"));
  EXPECT_TRUE(sidecar->running());
  EXPECT_EQ(kms_->registrations().size(), 1u);
}

TEST_F(SidecarKmsTest, RegistersAgainWithANewIdAfterTheKmsDropsTheConnection) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "2"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, numbered("before ", 4));
  ASSERT_TRUE(wait_for_acknowledged_events(4));
  kms_->drop_connections();
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 2; })) << sidecar->output();
  const auto registrations = kms_->registrations();
  EXPECT_NE(registrations[0].sidecar_id, registrations[1].sidecar_id);
  // The writer adopts the new registration after the KMS has confirmed it: messages it takes
  // before then are signed under the old one, by design. Its row in sidecars marks the switch.
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM sidecars", 2));
  send_frames(intake_port_, numbered("after ", 4));
  ASSERT_TRUE(wait_for_acknowledged_events(8)) << sidecar->output();
  // Sequences restart at 1 under the new id.
  EXPECT_EQ(db_.count("SELECT max(sequence) FROM events WHERE sidecar_id = '" + registrations[1].sidecar_id + "'"), 4);
  EXPECT_EQ(verify_everything_stored(), 8u);
}

TEST_F(SidecarKmsTest, PingsEveryIntervalWithATimestampAndReconnectsWhenTheKmsHangs) {
  auto sidecar = start_sidecar({{"SIDE_KMS__PING_INTERVAL", "200"}, {"SIDE_KMS__CONNECT_TIMEOUT", "300"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->ping_count_locked() >= 3; }, std::chrono::seconds(10)));
  const json payload = json::parse(kms_->pings().front(), nullptr, false);
  ASSERT_TRUE(payload.contains("timestamp")) << kms_->pings().front();
  EXPECT_TRUE(std::regex_match(payload["timestamp"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));

  kms_->hang_for(std::chrono::milliseconds(1500));  // answers nothing, not even pongs
  ASSERT_TRUE(sidecar->wait_for_output("no pong or other frame within 200 ms")) << sidecar->output();
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 2; })) << sidecar->output();
}

TEST_F(SidecarKmsTest, ABatchWithoutAnAnswerTimesOutAndIsDeliveredAfterReconnecting) {
  kms_->answer_batches(false);
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "2"}, {"SIDE_KMS__REQUEST_TIMEOUT", "300"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, {"a", "b"});
  ASSERT_TRUE(sidecar->wait_for_output("got no answer within 300 ms")) << sidecar->output();
  kms_->answer_batches(true);
  ASSERT_TRUE(wait_for_acknowledged_events(2)) << sidecar->output();
  EXPECT_GE(kms_->registrations().size(), 2u);
  EXPECT_EQ(verify_everything_stored(), 2u);
}

TEST_F(SidecarKmsTest, HoldsClientsUntilTheKmsComesUpThenStoresEverything) {
  const std::uint16_t kms_port = free_port();
  kms_.reset();
  auto env = sidecar_env();
  env["SIDE_KMS__URL"] = "ws://127.0.0.1:" + std::to_string(kms_port) + "/sidecar";
  env["SIDE_KMS__CONNECT_TIMEOUT"] = "300";
  env["SIDE_BATCH_SIZE"] = "5";
  ChildProcess sidecar(kSidecarBinary, env);
  ASSERT_TRUE(sidecar.wait_for_output("intake listening")) << sidecar.output();
  // Writes complete into the kernel's buffers although the sidecar reads nothing yet.
  send_frames(intake_port_, numbered("early ", 10));
  ASSERT_TRUE(sidecar.wait_for_output("cannot connect to the KMS")) << sidecar.output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 0);
  kms_ = std::make_unique<KmsPeer>(kms_port);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; })) << sidecar.output();
  ASSERT_TRUE(wait_for_acknowledged_events(10)) << sidecar.output();
  EXPECT_EQ(verify_everything_stored(), 10u);
}

}  // namespace
}  // namespace fls::test

namespace fls::test {
namespace {

class SidecarStopTest : public SidecarFixture {};

TEST_F(SidecarStopTest, SigtermStoresBatchesAndDeliversEverythingSentBeforeItThenExitsZero) {
  // A long interval: only the graceful stop can close the last, partial batch.
  auto sidecar = start_sidecar({{"SIDE_BATCH_TIME_INTERVAL", "300000"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] { send_frames(intake_port_, numbered("client " + std::to_string(c) + " #", 100)); });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(sidecar->stop(SIGTERM), 0) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 300) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM batches WHERE acknowledged IS NULL"), 0) << sidecar->output();
  EXPECT_EQ(verify_everything_stored(), 300u);
}

TEST_F(SidecarStopTest, ARepeatedSignalDoesNotCutTheStopShort) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_TIME_INTERVAL", "300000"}, {"SIDE_SHUTDOWN_TIMEOUT", "3000"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  // Unanswered batches keep the stop waiting for acknowledgements until its deadline.
  kms_->answer_batches(false);
  ASSERT_TRUE(send_frames(intake_port_, numbered("m", 50)));
  sidecar->signal(SIGTERM);
  ASSERT_TRUE(sidecar->wait_for_output("received SIGTERM, stopping")) << sidecar->output();
  sidecar->signal(SIGINT);  // an impatient Ctrl-C
  ASSERT_TRUE(sidecar->wait_for_output("received SIGINT again")) << sidecar->output();
  EXPECT_EQ(sidecar->wait_exit(std::chrono::seconds(30)), 0) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 50);
  EXPECT_EQ(db_.count("SELECT count(*) FROM batches WHERE data IS NULL"), 0) << "the last batch was closed";
}

}  // namespace
}  // namespace fls::test
