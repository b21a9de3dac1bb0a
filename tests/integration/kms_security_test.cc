// fls-kms against hostile clients on the same network (docs/security.md): input that used to
// crash it, registration without a valid credential, rogue clients trying to bend a verdict,
// roles on the admin API and the bounds on what a client can hold.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "independent_crypto.h"
#include "kms_fixture.h"
#include "raw_sidecar_socket.h"

namespace fls::test {
namespace {

using json = nlohmann::json;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

// VmRSS of a process, kB.
std::size_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  ADD_FAILURE() << "no VmRSS for pid " << pid;
  return 0;
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

json request(const std::string& id, const std::string& method, json params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

// An admin request with every header given as is (the admin client sends one Authorization).
unsigned raw_admin_status(std::uint16_t port, const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  beast::http::request<beast::http::string_body> request(beast::http::verb::get, "/sidecars", 11);
  request.set(beast::http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.insert(name, value);
  beast::http::write(stream, request);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> response;
  beast::http::read(stream, buffer, response);
  return response.result_int();
}

constexpr const char* kSilentSidecar = "6f5e4d3c-2b1a-4098-8776-655443322110";

class KmsSecurityTest : public KmsFixture {
 protected:
  // fls-kms with a short inquiry timeout, the real sidecar with 5 messages delivered, and a
  // registration of the same credential that never answers anything (kSilentSidecar).
  std::unique_ptr<RawSidecarSocket> start_with_a_silent_sidecar() {
    start_kms({{"KMS_INQUIRY_TIMEOUT", "3000"}});
    const Credential credential = create_credential();
    start_sidecar(5, credential.token);
    send_and_settle(5);
    auto silent = std::make_unique<RawSidecarSocket>(kms_port_, credential.token);
    silent->register_as(kSilentSidecar, kService);
    return silent;
  }

  std::string sidecar_status(const std::string& sidecar_id) {
    for (const auto& s : admin("GET", "/sidecars").json()) {
      if (s["id"] == sidecar_id) return s["status"];
    }
    return "absent";
  }
};

// An inquiry holds KMS memory and work until it completes: KMS_MAX_INQUIRIES bounds how many run
// at once. The silent sidecar keeps the first one open until its timeout.
TEST_F(KmsSecurityTest, InquiriesBeyondTheLimitAreRefusedUntilOneCompletes) {
  start_kms({{"KMS_INQUIRY_TIMEOUT", "3000"}, {"KMS_MAX_INQUIRIES", "1"}});
  const Credential credential = create_credential();
  start_sidecar(5, credential.token);
  send_and_settle(5);
  RawSidecarSocket silent(kms_port_, credential.token);
  silent.register_as(kSilentSidecar, kService);

  const std::string first = start_inquiry();
  const auto refused = admin(
      "POST", "/inquiry",
      nlohmann::json{{"service", kService}, {"startTime", "2026-01-01T00:00:00Z"}, {"endTime", "2026-01-02T00:00:00Z"}}
          .dump());
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(refused.json().value("code", 0), 42900) << refused.body;
  EXPECT_NE(refused.json().value("message", "").find("KMS_MAX_INQUIRIES"), std::string::npos) << refused.body;
  // The first completes at its timeout (the silent sidecar unanswered); then there is room again.
  const auto verdict = wait_for_verdict(first);
  EXPECT_EQ(verdict["unanswered"], nlohmann::json::array({kSilentSidecar})) << verdict.dump();
  EXPECT_FALSE(start_inquiry().empty());
}

// nlohmann::json copies values recursively: a request id or params nested 80,000 deep crashed
// fls-kms (SIGSEGV) the moment on_text copied them. Refused before parsing now, at every stage.
TEST_F(KmsSecurityTest, DeeplyNestedJsonIsRefusedAndTheKmsStaysUp) {
  start_kms({{"KMS_MAX_UNREGISTERED_MESSAGE_SIZE", "1048576"}});  // so the deep message reaches the parser
  const Credential credential = create_credential();
  RawSidecarSocket socket(kms_port_, credential.token);
  const std::string deep = nested_arrays(80'000);
  socket.send_text(R"({"jsonrpc":"2.0","id":)" + deep + R"(,"method":"register","params":{}})");
  json reply = socket.read();
  EXPECT_TRUE(reply["id"].is_null()) << reply.dump();
  EXPECT_EQ(reply["error"]["code"], -32600);
  socket.send_text(R"({"jsonrpc":"2.0","id":"r","method":"register","params":)" + deep + "}");
  EXPECT_EQ(socket.read()["error"]["code"], -32600);
  socket.send_text(R"({"jsonrpc":"2.0","id":[1],"method":"register","params":{}})");  // ids are scalars
  EXPECT_EQ(socket.read()["error"]["code"], -32600);

  socket.register_as("0d5a4c3b-2a19-4f08-9e7d-6c5b4a392817", kService);
  socket.send_text(R"({"jsonrpc":"2.0","id":"b","method":"batch","params":)" + deep + "}");
  reply = socket.read();
  EXPECT_TRUE(reply["id"].is_null()) << reply.dump();
  EXPECT_EQ(reply["error"]["code"], -32600);

  for (const char* target :
       {"/inquiry", "/credentials", "/sidecars/0d5a4c3b-2a19-4f08-9e7d-6c5b4a392817/healthchecks"}) {
    const auto refused = admin("POST", target, R"({"service":)" + deep + "}");
    EXPECT_EQ(refused.status, 400u) << target;
    EXPECT_EQ(refused.json()["code"], 40000) << target;
  }
  EXPECT_EQ(admin("GET", "/health").status, 200u);
  EXPECT_TRUE(kms_->running());
  // The registered connection survived all of it.
  EXPECT_EQ(sidecar_status("0d5a4c3b-2a19-4f08-9e7d-6c5b4a392817"), "registered");
}

TEST_F(KmsSecurityTest, RegistrationNeedsAValidCredentialOfItsService) {
  start_kms();
  const Credential credential = create_credential();
  EXPECT_EQ(upgrade_status(kms_port_, ""), 401u);  // KMS_REGISTRATION defaults to token
  EXPECT_EQ(upgrade_status(kms_port_, "Basic " + credential.token), 401u);
  EXPECT_EQ(upgrade_status(kms_port_, "bEaReR " + credential.token), 101u);  // RFC 7235: any case

  const auto refused_with = [&](const std::string& token, const std::string& id) {
    RawSidecarSocket socket(kms_port_, token);
    const json reply = socket.exchange(request("r", "register", {{"id", id}, {"serviceName", kService}}));
    EXPECT_EQ(reply["error"]["code"], 40100) << reply.dump();
    EXPECT_EQ(socket.read_close(), std::optional<int>(1008));
  };
  refused_with("fls_" + std::string(64, '0'), "1a2b3c4d-0000-4000-8000-000000000001");
  refused_with(create_credential("another-service").token, "1a2b3c4d-0000-4000-8000-000000000002");
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_sidecars"), 0);

  // A revoked credential: its live connection is closed, and it registers no more.
  RawSidecarSocket registered(kms_port_, credential.token);
  registered.register_as("1a2b3c4d-0000-4000-8000-000000000003", kService);
  EXPECT_EQ(admin("GET", "/sidecars").json()[0]["credentialId"], credential.id);
  const auto revoked = admin("DELETE", "/credentials/" + credential.id);
  ASSERT_EQ(revoked.status, 200u) << revoked.body;
  EXPECT_FALSE(revoked.json()["revoked"].is_null());
  EXPECT_EQ(registered.read_close(), std::optional<int>(1008));
  EXPECT_TRUE(eventually([&] { return sidecar_status("1a2b3c4d-0000-4000-8000-000000000003") == "terminated"; }));
  refused_with(credential.token, "1a2b3c4d-0000-4000-8000-000000000004");
  // Only hashes of tokens are stored.
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_credentials WHERE position(convert_to('" + credential.token +
                          "', 'UTF8') IN token_sha256) > 0"),
            0);
  EXPECT_EQ(kms_->output().find(credential.token), std::string::npos) << "tokens are never logged";
}

// A client that holds a valid credential of the same service, beside the real sidecar: what it
// sends is judged as its own and cannot make the real sidecar's evidence look altered.
TEST_F(KmsSecurityTest, ARogueClientCannotBendTheVerdictOfTheRealSidecar) {
  start_kms({{"KMS_INQUIRY_TIMEOUT", "4000"}});
  start_sidecar(5, create_credential().token);
  send_and_settle(10);
  const std::string real_sidecar = admin("GET", "/sidecars").json()[0]["id"];
  const std::string real_batch =
      sidecar_db_.query("SELECT batch_id FROM batches ORDER BY created LIMIT 1")[0][0].c_str();
  const std::string real_signature =
      kms_db_.query("SELECT signature FROM kms_batches WHERE batch_id = '" + real_batch + "'")[0][0].c_str();

  RawSidecarSocket rogue(kms_port_, create_credential().token);
  const std::string rogue_id = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a";
  rogue.register_as(rogue_id, kService);
  // Delivering a real sidecar's batch id neither reveals that it exists (no 120) nor touches it.
  const json delivered =
      rogue.exchange(request("b1", "batch", {{"id", real_batch}, {"signature", std::string(128, 'a')}}));
  EXPECT_EQ(delivered["result"]["id"], real_batch) << delivered.dump();
  EXPECT_EQ(kms_db_
                .query("SELECT signature FROM kms_batches WHERE batch_id = '" + real_batch + "' AND sidecar_id = '" +
                       real_sidecar + "'")[0][0]
                .c_str(),
            real_signature);

  const std::string location = start_inquiry();
  const json inquiry = rogue.read();
  ASSERT_EQ(inquiry["method"], "inquiry") << inquiry.dump();
  const std::string inquiry_id = inquiry["params"]["inquiry"];
  // A forged body under the real batch id, whose row claims the real sidecar's key and a huge
  // sequence number; then the same item again; and it never sends item 2.
  const std::string forged = R"([{"row":{"keyId":")" + real_sidecar +
                             R"(","sequence":1000000000,"message":"forged","timestamp":"2026-01-01T00:00:00.000Z"},)"
                             R"("signature":")" +
                             std::string(32, '0') + R"("}])";
  const json response{{"inquiry", inquiry_id}, {"id", real_batch}, {"body", forged}, {"total", 2}, {"item", 1}};
  rogue.send(request("ir1", "inquiry-response", response));
  rogue.send(request("ir2", "inquiry-response", response));

  const json result = wait_for_verdict(location);
  EXPECT_EQ(result["verified"], false);
  EXPECT_EQ(result["unanswered"], json::array({rogue_id})) << result.dump(2);
  ASSERT_EQ(result["senderProblems"].size(), 1u) << result.dump(2);
  EXPECT_EQ(result["senderProblems"][0]["sidecarId"], rogue_id);
  EXPECT_NE(result["senderProblems"][0]["problem"].get<std::string>().find("more than once"), std::string::npos);
  EXPECT_TRUE(result["gaps"].empty()) << "the forged row made no gap in the real key: " << result.dump(2);
  EXPECT_TRUE(result["missing"].empty());
  std::size_t real_results = 0;
  for (const auto& r : result["results"]) {
    if (r["answeredBy"] == real_sidecar) {
      ++real_results;
      EXPECT_EQ(r["verified"], true) << r.dump();
      EXPECT_EQ(r["sidecarId"], real_sidecar);
    } else {
      // The forged answer is the rogue's own failure, judged against what the rogue delivered.
      EXPECT_EQ(r["answeredBy"], rogue_id);
      EXPECT_EQ(r["sidecarId"], rogue_id);
      EXPECT_EQ(r["verified"], false);
      EXPECT_EQ(r["rowsVerified"], 0);
    }
  }
  EXPECT_EQ(real_results, 2u);

  // Once the rogue is gone, the real sidecar's verdict is whole again.
  rogue.ws().close(websocket::close_code::normal);
  EXPECT_TRUE(eventually([&] { return sidecar_status(rogue_id) == "terminated"; }));
  const json after = verdict();
  EXPECT_EQ(after["verified"], true) << after.dump(2);
}

TEST_F(KmsSecurityTest, AnswersFromASidecarTheInquiryWasNotSentToAreDropped) {
  // The silent one is asked, so the inquiry stays open until its timeout.
  const auto silent = start_with_a_silent_sidecar();
  const std::string location = start_inquiry();
  const std::string inquiry_id = location.substr(location.rfind('/') + 1);
  // Registered after the inquiry was sent: not asked, whatever credential it holds.
  RawSidecarSocket late(kms_port_, create_credential().token);
  late.register_as("8f7e6d5c-4b3a-4291-8807-f6e5d4c3b2a1", kService);
  late.send(request("ir", "inquiry-response",
                    {{"inquiry", inquiry_id},
                     {"id", "8f7e6d5c-0000-4000-8000-000000000001"},
                     {"body", "[]"},
                     {"total", 1},
                     {"item", 1}}));
  ASSERT_TRUE(kms_->wait_for_output("it was not sent to this sidecar; ignored")) << kms_->output();
  const json result = wait_for_verdict(location);
  EXPECT_EQ(result["unanswered"], json::array({kSilentSidecar})) << result.dump(2);
  EXPECT_TRUE(result["senderProblems"].empty()) << result.dump(2);
  EXPECT_TRUE(result["unknown"].empty());
  for (const auto& r : result["results"]) EXPECT_EQ(r["verified"], true) << r.dump();
}

TEST_F(KmsSecurityTest, AnAskedSidecarThatNeverAnswersKeepsTheVerdictFromVerified) {
  const auto silent = start_with_a_silent_sidecar();
  const json result = verdict();
  EXPECT_EQ(result["verified"], false);
  EXPECT_EQ(result["unanswered"], json::array({kSilentSidecar})) << result.dump(2);
  for (const auto& r : result["results"]) EXPECT_EQ(r["verified"], true);
}

// A sidecar without SIDE_KMS__TOKEN against a KMS that asks for one is told what to check.
TEST_F(KmsSecurityTest, ASidecarWithoutItsTokenIsRefusedAndSaysWhy) {
  start_kms();
  ChildProcess sidecar(kSidecarBinary, {{"SIDE_DATABASE_URI", sidecar_db_.uri()},
                                        {"SIDE_KMS__URL", "ws://127.0.0.1:" + std::to_string(kms_port_) + "/sidecar"},
                                        {"SIDE_PORT", std::to_string(intake_port_)},
                                        {"SIDE_HEALTH_PORT", std::to_string(free_port())},
                                        {"SIDE_BIND_ADDRESS", "127.0.0.1"},
                                        {"SIDE_KMS__RECONNECT_INTERVAL", "100"}});
  EXPECT_TRUE(sidecar.wait_for_output("is SIDE_KMS__TOKEN set to a credential of this service?")) << sidecar.output();
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_sidecars"), 0);
}

TEST_F(KmsSecurityTest, TheAuditorReadsAndStartsInquiriesAndEveryChangeIsRecorded) {
  start_kms();
  const auto as_auditor = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return admin(method, target, body, kAuditorToken);
  };
  EXPECT_EQ(as_auditor("GET", "/sidecars").status, 200u);
  EXPECT_EQ(as_auditor("GET", "/credentials").status, 200u);
  // Past the role check: refused for having no sidecars, not for the role.
  EXPECT_EQ(as_auditor("POST", "/inquiry",
                       json{{"service", kService},
                            {"startTime", iso_now_plus(std::chrono::seconds(-60))},
                            {"endTime", iso_now_plus(std::chrono::seconds(60))}}
                           .dump())
                .json()["code"],
            40002);
  const auto forbidden = as_auditor("POST", "/credentials", json{{"service", kService}}.dump());
  EXPECT_EQ(forbidden.status, 403u);
  EXPECT_EQ(forbidden.json()["code"], 40300);
  const Credential credential = create_credential();
  EXPECT_EQ(as_auditor("DELETE", "/credentials/" + credential.id).status, 403u);
  EXPECT_EQ(as_auditor("POST", "/credentials/" + credential.id + "/token").status, 403u);
  EXPECT_EQ(as_auditor("POST", "/sidecars/" + credential.id + "/healthchecks", "{}").status, 403u);
  EXPECT_EQ(admin("GET", "/sidecars", {}, "integration-admin-tokeN").status, 401u);

  EXPECT_EQ(raw_admin_status(kms_port_, {{"Authorization", std::string("bearer ") + kAdminToken}}), 200u);
  EXPECT_EQ(raw_admin_status(kms_port_, {{"Authorization", std::string("BEARER   ") + kAdminToken}}), 200u);
  EXPECT_EQ(raw_admin_status(kms_port_, {{"Authorization", std::string("Bearer ") + kAuditorToken},
                                         {"Authorization", std::string("Bearer ") + kAdminToken}}),
            400u);

  const auto rotated = admin("POST", "/credentials/" + credential.id + "/token");
  ASSERT_EQ(rotated.status, 200u) << rotated.body;
  EXPECT_NE(rotated.json()["token"], credential.token);
  EXPECT_EQ(upgrade_status(kms_port_, "Bearer " + rotated.json()["token"].get<std::string>()), 101u);

  const json actions = as_auditor("GET", "/admin-actions").json();
  std::vector<std::string> seen;
  for (const auto& a : actions) {
    seen.push_back(a["role"].get<std::string>() + " " + a["method"].get<std::string>() + " " +
                   a["path"].get<std::string>() + " " + std::to_string(a["status"].get<int>()));
    EXPECT_FALSE(a["time"].get<std::string>().empty());
    EXPECT_EQ(a["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  }
  const std::vector<std::string> expected{"auditor POST /inquiry 400",
                                          "auditor POST /credentials 403",
                                          "admin POST /credentials 201",
                                          "auditor DELETE /credentials/" + credential.id + " 403",
                                          "auditor POST /credentials/" + credential.id + "/token 403",
                                          "auditor POST /sidecars/" + credential.id + "/healthchecks 403",
                                          "admin POST /credentials/" + credential.id + "/token 200"};
  EXPECT_EQ(seen, expected) << actions.dump(2);
  EXPECT_EQ(actions[2]["target"], credential.id);  // what the action created
  EXPECT_EQ(actions.dump().find(credential.token), std::string::npos);
}

TEST_F(KmsSecurityTest, ConnectionsBeyondKmsMaxConnectionsAreClosedAtOnce) {
  start_kms({{"KMS_MAX_CONNECTIONS", "3"}});
  const Credential credential = create_credential();
  {
    // The admin requests' connections close a moment after their answers: take each slot as it frees.
    std::vector<std::unique_ptr<RawSidecarSocket>> held;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(eventually([&] {
        try {
          held.push_back(std::make_unique<RawSidecarSocket>(kms_port_, credential.token));
          return true;
        } catch (const boost::system::system_error&) {
          return false;
        }
      }));
    }
    EXPECT_THROW(RawSidecarSocket(kms_port_, credential.token), boost::system::system_error);
    EXPECT_TRUE(kms_->wait_for_output("refused: 3 connections open (the limit)")) << kms_->output();
  }
  // Slots come back when connections close.
  EXPECT_TRUE(eventually([&] {
    try {
      return upgrade_status(kms_port_, "Bearer " + credential.token) == 101u;
    } catch (const boost::system::system_error&) {
      return false;  // closed at once: still full
    }
  }));
}

TEST_F(KmsSecurityTest, ConnectionsAreBoundedInMessageSizeKindAndTime) {
  start_kms({{"KMS_REGISTRATION_TIMEOUT", "1000"}});
  const Credential credential = create_credential();

  // A register is tiny: before registration a message over 16 KiB closes the connection (1009).
  RawSidecarSocket large(kms_port_, credential.token);
  large.send_text(request("r", "register",
                          {{"id", "2b3c4d5e-0000-4000-8000-000000000001"}, {"serviceName", std::string(20 << 10, 'x')}})
                      .dump());
  EXPECT_EQ(large.read_close(), std::optional<int>(1009)) << large.last_error();

  // Once registered, messages up to KMS_MAX_MESSAGE_SIZE are read, and the memory one took is
  // given back afterwards.
  RawSidecarSocket registered(kms_port_, credential.token);
  registered.register_as("2b3c4d5e-0000-4000-8000-000000000002", kService);
  const std::size_t before = resident_kib(kms_->pid());
  for (int i = 0; i < 3; ++i) {
    const json reply = registered.exchange(request("x", "no-such-method", {{"padding", std::string(12 << 20, 'x')}}));
    EXPECT_EQ(reply["error"]["code"], -32601);
  }
  // Each message is held as received, as text and parsed (3 x 12 MiB at once), then given back.
  // (Not under AddressSanitizer, whose allocator keeps freed memory in quarantine.)
#if !defined(__SANITIZE_ADDRESS__)
  std::size_t after = 0;
  EXPECT_TRUE(
      eventually([&] { return (after = resident_kib(kms_->pid())) < before + 8 * 1024; }, std::chrono::seconds(5)))
      << "VmRSS " << before << " kB before, " << after << " kB after";
#else
  (void)before;
#endif

  // Binary frames are not part of the protocol.
  RawSidecarSocket binary(kms_port_, credential.token);
  binary.ws().binary(true);
  binary.ws().write(boost::asio::buffer(std::string("\x01\x02\x03", 3)));
  EXPECT_EQ(binary.read_close(), std::optional<int>(1003));

  // A connection that never completes registration is closed after KMS_REGISTRATION_TIMEOUT.
  RawSidecarSocket idle(kms_port_, credential.token);
  const auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(idle.read_close(), std::optional<int>(1008));
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(10));
  EXPECT_EQ(sidecar_status("2b3c4d5e-0000-4000-8000-000000000002"), "registered");
}

TEST_F(KmsSecurityTest, RegistrationsAreBoundedPagedAndPrunedUnlessTheyDeliveredABatch) {
  start_kms({{"KMS_MAX_REGISTRATIONS_PER_CREDENTIAL", "1"}, {"KMS_REGISTRATION_RETENTION", "1000"}});
  const Credential credential = create_credential();
  const std::string kept = "3c4d5e6f-0000-4000-8000-000000000001";
  const std::string pruned = "3c4d5e6f-0000-4000-8000-000000000002";
  {
    RawSidecarSocket first(kms_port_, credential.token);
    first.register_as(kept, kService);
    RawSidecarSocket second(kms_port_, credential.token);
    const json refused = second.exchange(request("r", "register", {{"id", pruned}, {"serviceName", kService}}));
    EXPECT_EQ(refused["error"]["code"], 40006) << refused.dump();
    const json delivered = first.exchange(
        request("b", "batch", {{"id", "4d5e6f70-0000-4000-8000-000000000001"}, {"signature", std::string(128, 'b')}}));
    ASSERT_TRUE(delivered.contains("result")) << delivered.dump();
  }
  ASSERT_TRUE(eventually([&] { return sidecar_status(kept) == "terminated"; }));
  {
    RawSidecarSocket third(kms_port_, credential.token);  // the slot is free again
    third.register_as(pruned, kService);
  }
  const auto page = admin("GET", "/sidecars?limit=1");
  ASSERT_EQ(page.status, 200u);
  EXPECT_EQ(page.json().size(), 1u);
  EXPECT_EQ(page.headers.count("link"), 1u);
  EXPECT_EQ(admin("GET", "/sidecars?limit=0").json()["code"], 40014);
  EXPECT_EQ(admin("GET", "/sidecars?offset=x").json()["code"], 40014);
  // Closed and older than KMS_REGISTRATION_RETENTION: the one without a batch goes, the other stays.
  EXPECT_TRUE(eventually([&] { return sidecar_status(pruned) == "absent"; })) << kms_->output();
  EXPECT_EQ(sidecar_status(kept), "terminated");
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_keys WHERE sidecar_id = '" + pruned + "'"), 0);
}

}  // namespace
}  // namespace fls::test
