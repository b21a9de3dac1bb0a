// The sidecar and fls-kms together, as shipped: registration, batches, health checks through the
// admin API, inquiries and their verdicts, tampering caught, and the admin API's input checks.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "admin_client.h"
#include "child_process.h"
#include "independent_crypto.h"
#include "kms_fixture.h"
#include "raw_sidecar_socket.h"
#include "test_certificate.h"
#include "test_database.h"

namespace fls::test {
namespace {

using json = nlohmann::json;

class KmsEndToEndTest : public KmsFixture {
 protected:
  void SetUp() override {
    start_kms();
    // KMS_REGISTRATION defaults to token: sidecars register with a credential of their service.
    credential_ = create_credential();
  }

  void start_sidecar(int batch_size) { KmsFixture::start_sidecar(batch_size, credential_.token); }

  // The batch holding the event with this sequence number.
  std::string batch_of_sequence(int sequence) {
    return sidecar_db_.query("SELECT batch_id FROM events WHERE sequence = " + std::to_string(sequence))[0][0].c_str();
  }

  Credential credential_;
};

TEST_F(KmsEndToEndTest, RegistersDeliversBatchesAnswersAHealthCheckAndVerifiesAnInquiry) {
  start_sidecar(5);
  send_and_settle(20);
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_batches"), 4);

  const json sidecars = admin("GET", "/sidecars").json();
  ASSERT_EQ(sidecars.size(), 1u);
  EXPECT_EQ(sidecars[0]["serviceName"], kService);
  EXPECT_EQ(sidecars[0]["credentialId"], credential_.id);
  const std::string sidecar_id = sidecars[0]["id"];

  const auto posted = admin("POST", "/sidecars/" + sidecar_id + "/healthchecks", R"({"level":"ping"})");
  ASSERT_EQ(posted.status, 200u) << posted.body;
  EXPECT_EQ(posted.json()["status"], "pending");
  EXPECT_EQ(posted.json()["sidecarId"], sidecar_id);
  json healthcheck;
  ASSERT_TRUE(eventually([&] {
    healthcheck = admin("GET", "/healthchecks/" + posted.json()["id"].get<std::string>()).json();
    return healthcheck["status"] == "complete";
  })) << healthcheck.dump();
  EXPECT_EQ(healthcheck["response"]["id"], sidecar_id);
  EXPECT_EQ(healthcheck["response"]["eventCountLastHour"], 20);

  const json result = verdict();
  EXPECT_EQ(result["verified"], true) << result.dump(2);
  EXPECT_EQ(result["total"], 4);
  EXPECT_EQ(result["completed"], 4);
  ASSERT_EQ(result["results"].size(), 4u);
  for (const auto& r : result["results"]) {
    EXPECT_EQ(r["verified"], true);
    EXPECT_EQ(r["rows"], 5);
    EXPECT_EQ(r["rowsVerified"], 5);
    EXPECT_EQ(r["sidecarId"], sidecar_id);
  }
  EXPECT_TRUE(result["missing"].empty());
  EXPECT_TRUE(result["unknown"].empty());
  EXPECT_TRUE(result["gaps"].empty());
  // Keys at rest are sealed: no stored value is a plain 32- or 64-byte key.
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_keys WHERE length(row_key_sealed) = 32 OR "
                          "length(batch_key_sealed) = 64"),
            0);
}

TEST_F(KmsEndToEndTest, AnAlteredEventMessageFailsItsBatch) {
  start_sidecar(5);
  send_and_settle(10);
  const std::string tampered = batch_of_sequence(3);
  sidecar_db_.query("UPDATE events SET message = convert_to('transfer 3 reversed', 'UTF8') WHERE sequence = 3");
  const json result = verdict();
  EXPECT_EQ(result["verified"], false);
  for (const auto& r : result["results"]) {
    if (r["id"] == tampered) {
      EXPECT_EQ(r["verified"], false);
      EXPECT_NE(r["problems"].dump().find("sequence 3"), std::string::npos) << r.dump();
    } else {
      EXPECT_EQ(r["verified"], true);
    }
  }
}

// Results come a page at a time, in the order they arrived; the summary, the counts and the
// progress cover them all, whatever the page.
TEST_F(KmsEndToEndTest, ATamperedRowIsCaughtOnWhicheverPageItsBatchIsListed) {
  start_sidecar(2);
  send_and_settle(10);
  const std::string tampered = batch_of_sequence(7);
  sidecar_db_.query("UPDATE events SET message = convert_to('transfer 7 reversed', 'UTF8') WHERE sequence = 7");
  const std::string location = start_inquiry();
  const json first = wait_for_verdict(location + "?limit=2");
  EXPECT_EQ(first["verified"], false);
  EXPECT_EQ(first["completed"], 5);
  EXPECT_EQ(first["progress"]["responses"], 5);
  EXPECT_EQ(first["progress"]["resultsFailed"], 1);
  EXPECT_EQ(first["progress"]["rows"], 10);
  EXPECT_EQ(first["progress"]["rowsVerified"], 9);
  std::vector<std::string> ids, failed;
  for (std::size_t offset = 0;; offset += 2) {
    const auto page = admin("GET", location + "?offset=" + std::to_string(offset) + "&limit=2");
    ASSERT_EQ(page.status, 200u) << page.body;
    const json body = page.json();
    for (const auto& r : body["results"]) {
      ids.push_back(r["id"]);
      if (r["verified"] != true) failed.push_back(r["id"]);
    }
    const bool more = page.headers.count("link") != 0;
    if (more) {
      EXPECT_EQ(page.headers.at("link"),
                "<" + location + "?offset=" + std::to_string(offset + 2) + "&limit=2>; rel=\"next\"");
    }
    if (!more) break;
    ASSERT_LT(offset, 10u) << "the pages do not end";
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 5u) << "a result listed twice";
  EXPECT_EQ(failed, std::vector<std::string>{tampered});
}

TEST_F(KmsEndToEndTest, AlteredBatchDataFailsThatBatch) {
  start_sidecar(5);
  send_and_settle(10);
  const std::string tampered = batch_of_sequence(7);
  sidecar_db_.query(
      "UPDATE batches SET data = replace(data, 'transfer 6 committed', 'transfer 6 cancelled') "
      "WHERE batch_id = '" +
      tampered + "'");
  const json result = verdict();
  EXPECT_EQ(result["verified"], false);
  for (const auto& r : result["results"]) EXPECT_EQ(r["verified"], r["id"] != tampered) << r.dump();
}

TEST_F(KmsEndToEndTest, ADeletedBatchIsReportedMissingAndAsAGap) {
  start_sidecar(5);
  send_and_settle(15);
  const std::string deleted = batch_of_sequence(7);
  sidecar_db_.query("DELETE FROM events WHERE batch_id = '" + deleted + "'");
  sidecar_db_.query("DELETE FROM batches WHERE batch_id = '" + deleted + "'");
  const json result = verdict();
  EXPECT_EQ(result["verified"], false);
  EXPECT_EQ(result["missing"], json::array({deleted}));
  ASSERT_EQ(result["gaps"].size(), 1u);
  EXPECT_EQ(result["gaps"][0]["after"], 5);
  EXPECT_EQ(result["gaps"][0]["before"], 11);
  for (const auto& r : result["results"]) EXPECT_EQ(r["verified"], true);
}

TEST_F(KmsEndToEndTest, AFailedChallengeIsRefusedAndTheSocketClosed) {
  namespace websocket = boost::beast::websocket;
  RawSidecarSocket socket(kms_port_, credential_.token);
  auto& ws = socket.ws();
  const std::string sidecar_id = "3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b";
  const json registered = socket.exchange({{"jsonrpc", "2.0"},
                                           {"id", "r1"},
                                           {"method", "register"},
                                           {"params", {{"id", sidecar_id}, {"serviceName", kService}}}});
  ASSERT_TRUE(registered.contains("result")) << registered.dump();
  EXPECT_EQ(registered["result"]["batchKey"].get<std::string>().size(), 128u);
  EXPECT_EQ(registered["result"]["rowKey"].get<std::string>().size(), 64u);
  const json refused = socket.exchange(
      {{"jsonrpc", "2.0"},
       {"id", "c1"},
       {"method", "challenge"},
       {"params", {{"rowSignature", std::string(32, '0')}, {"batchSignature", std::string(128, '0')}}}});
  EXPECT_EQ(refused["id"], "c1");
  EXPECT_EQ(refused["error"]["code"], 40004);
  boost::beast::flat_buffer buffer;
  boost::beast::error_code ec;
  ws.read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(ws.reason().code, websocket::close_code::normal);
  EXPECT_TRUE(eventually([&] { return admin("GET", "/sidecars").json()[0]["status"] == "suspended"; }));
}

// A sidecar keeps many batches in flight, which fls-kms stores together in one transaction:
// each is still answered on its own, a repeated id gets 120 even within one burst, and a
// signature PostgreSQL cannot store is refused alone without failing the others.
TEST_F(KmsEndToEndTest, ABurstOfBatchesIsAnsweredOneByOne) {
  RawSidecarSocket socket(kms_port_, credential_.token);
  auto read = [&] { return socket.read(); };
  auto send = [&](const json& message) { socket.send(message); };

  const std::string sidecar_id = "5d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";
  send({{"jsonrpc", "2.0"},
        {"id", "r1"},
        {"method", "register"},
        {"params", {{"id", sidecar_id}, {"serviceName", kService}}}});
  const json keys = read()["result"];
  const std::string challenge = keys["challenge"];
  const Bytes batch_key = unhex(keys["batchKey"].get<std::string>());
  const Bytes batch_seed(batch_key.begin(), batch_key.begin() + 32);
  send({{"jsonrpc", "2.0"},
        {"id", "c1"},
        {"method", "challenge"},
        {"params",
         {{"rowSignature", hex(rfc4493_cmac(unhex(keys["rowKey"].get<std::string>()), challenge))},
          {"batchSignature", hex(ed25519_sign(batch_seed, challenge))}}}});
  ASSERT_TRUE(read().contains("result"));

  constexpr int kBatches = 100;
  std::vector<std::string> ids;
  for (int i = 0; i < kBatches; ++i) {
    char id[37];
    std::snprintf(id, sizeof id, "6e3d2c1b-0a9f-4e8d-9c7b-%012d", i);
    ids.push_back(id);
    send({{"jsonrpc", "2.0"},
          {"id", i},
          {"method", "batch"},
          {"params", {{"id", ids.back()}, {"signature", hex(random_bytes(64))}}}});
  }
  send({{"jsonrpc", "2.0"},
        {"id", "repeat"},
        {"method", "batch"},
        {"params", {{"id", ids.front()}, {"signature", hex(random_bytes(64))}}}});
  send({{"jsonrpc", "2.0"},
        {"id", "nul"},
        {"method", "batch"},
        {"params", {{"id", "7f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"}, {"signature", std::string("ab\0cd", 5)}}}});

  std::map<std::string, json> replies;
  for (int i = 0; i < kBatches + 2; ++i) {
    const json reply = read();
    replies[reply["id"].dump()] = reply;
  }
  for (int i = 0; i < kBatches; ++i) {
    const json& reply = replies[json(i).dump()];
    EXPECT_EQ(reply["result"]["id"], ids[static_cast<std::size_t>(i)]) << reply.dump();
  }
  EXPECT_EQ(replies[json("repeat").dump()]["error"]["code"], 120) << replies[json("repeat").dump()].dump();
  EXPECT_EQ(replies[json("nul").dump()]["error"]["code"], -32602) << replies[json("nul").dump()].dump();
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_batches"), kBatches);
}

TEST_F(KmsEndToEndTest, AdminApiInputErrorsGetTheirCodes) {
  const auto code = [&](const HttpResult& r) { return r.json()["code"]; };
  EXPECT_EQ(admin("GET", "/sidecars", {}, "").status, 401u);
  EXPECT_EQ(code(admin("GET", "/sidecars", {}, "wrong")), 40100);
  EXPECT_EQ(admin("GET", "/health", {}, "").status, 200u);  // health and metrics need no token
  EXPECT_EQ(admin("GET", "/metrics", {}, "").status, 200u);

  const auto bad_json = admin("POST", "/inquiry", "{not json");
  EXPECT_EQ(bad_json.status, 400u);
  EXPECT_EQ(code(bad_json), 40000);
  EXPECT_EQ(code(admin("POST", "/inquiry", R"({"startTime":"2026-01-01T00:00:00Z"})")), 40011);
  const auto bad_date =
      admin("POST", "/inquiry", R"({"service":"x","startTime":"yesterday","endTime":"2026-01-01T00:00:00Z"})");
  EXPECT_EQ(bad_date.status, 400u);
  EXPECT_EQ(code(bad_date), 40012);
  EXPECT_NE(bad_date.json()["message"].get<std::string>().find("startTime"), std::string::npos);
  EXPECT_EQ(code(admin("POST", "/inquiry",
                       R"({"service":"x","startTime":"2026-01-01T00:00:00Z","endTime":"2026-03-01T00:00:00Z"})")),
            40010);
  EXPECT_EQ(code(admin("POST", "/inquiry",
                       R"({"service":"x","startTime":"2026-01-02T00:00:00Z","endTime":"2026-01-01T00:00:00Z"})")),
            40010);
  const auto nobody =
      admin("POST", "/inquiry",
            R"({"service":"nobody","startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-02T00:00:00Z"})");
  EXPECT_EQ(nobody.status, 400u);
  EXPECT_EQ(nobody.json()["message"], "No current sidecars are registered for service 'nobody'");
  EXPECT_EQ(code(admin("GET", "/inquiry/not-a-uuid")), 40003);
  const auto unknown = admin("GET", "/inquiry/3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.json()["message"], "Inquiry with id of 3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b does not exist");
  EXPECT_EQ(code(admin("GET", "/healthchecks/3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b")), 40402);
  const auto unregistered =
      admin("POST", "/sidecars/3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b/healthchecks", R"({"level":"ping"})");
  EXPECT_EQ(unregistered.status, 404u);
  EXPECT_EQ(unregistered.json()["message"], "Sidecar '3f1a7c9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b' is not registered");
}

TEST(KmsCommandLine, RefusesToStartWithoutAMasterKeyOrWithAMalformedOne) {
  const auto [missing_status, missing] =
      run_to_end(kKmsBinary, {{"KMS_DATABASE_URI", "postgres://x@127.0.0.1:1/x"}, {"KMS_ADMIN_TOKEN", "t"}}, {});
  EXPECT_EQ(missing_status, 2);
  EXPECT_NE(missing.find("KMS_MASTER_KEY"), std::string::npos) << missing;
  const auto [bad_status, bad] = run_to_end(
      kKmsBinary,
      {{"KMS_DATABASE_URI", "postgres://x@127.0.0.1:1/x"}, {"KMS_ADMIN_TOKEN", "t"}, {"KMS_MASTER_KEY", "abc"}}, {});
  EXPECT_EQ(bad_status, 2);
  EXPECT_NE(bad.find("KMS_MASTER_KEY"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("abc"), std::string::npos) << "the key's value is never printed";
}

}  // namespace
}  // namespace fls::test

namespace fls::test {
namespace {

// wss:// between the sidecar and fls-kms: the sidecar verifies the KMS's certificate.
class KmsTlsTest : public ::testing::Test {
 protected:
  std::unique_ptr<ChildProcess> start_kms() {
    auto kms = std::make_unique<ChildProcess>(
        kKmsBinary, std::map<std::string, std::string>{{"KMS_DATABASE_URI", kms_db_.uri()},
                                                       {"KMS_DEV_MODE", "true"},
                                                       {"KMS_PORT", std::to_string(kms_port_)},
                                                       {"KMS_BIND_ADDRESS", "127.0.0.1"},
                                                       {"KMS_TLS_CERT", certificate_.cert_file()},
                                                       {"KMS_TLS_KEY", certificate_.key_file()}});
    EXPECT_TRUE(kms->wait_for_output("serving wss://")) << kms->output();
    return kms;
  }
  std::map<std::string, std::string> sidecar_env() {
    return {{"SIDE_DATABASE_URI", sidecar_db_.uri()},
            {"SIDE_KMS__URL", "wss://127.0.0.1:" + std::to_string(kms_port_) + "/sidecar"},
            {"SIDE_PORT", std::to_string(free_port())},
            {"SIDE_HEALTH_PORT", std::to_string(free_port())},
            {"SIDE_BIND_ADDRESS", "127.0.0.1"},
            {"SIDE_KMS__RECONNECT_INTERVAL", "100"}};
  }

  TestCertificate certificate_;
  TestDatabase kms_db_;
  TestDatabase sidecar_db_;
  std::uint16_t kms_port_ = free_port();
};

TEST_F(KmsTlsTest, RegistersOverWssWhenTheCertificateIsTrusted) {
  auto kms = start_kms();
  auto env = sidecar_env();
  env["SIDE_KMS__CA_FILE"] = certificate_.cert_file();
  ChildProcess sidecar(kSidecarBinary, env);
  ASSERT_TRUE(sidecar.wait_for_output("registered with the KMS")) << sidecar.output() << kms->output();
}

TEST_F(KmsTlsTest, RefusesAKmsWhoseCertificateItCannotVerify) {
  auto kms = start_kms();
  ChildProcess sidecar(kSidecarBinary, sidecar_env());  // system CAs only: the test certificate is unknown
  ASSERT_TRUE(sidecar.wait_for_output("TLS handshake failed")) << sidecar.output();
  EXPECT_EQ(sidecar.output().find("registered with the KMS"), std::string::npos);
  EXPECT_EQ(kms_db_.count("SELECT count(*) FROM kms_sidecars"), 0);
}

}  // namespace
}  // namespace fls::test
