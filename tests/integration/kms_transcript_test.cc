// The KMS protocol, byte for byte: the sidecar's KMS client and fls-kms's service talk over a
// real loopback WebSocket in a fixed, scripted session (registration, challenge, batches, a
// repeated batch, a health check, two inquiries), and every text frame either side sends must
// equal the recorded transcript in golden/kms_session.transcript. Ids, keys, challenges and
// clocks come from fixed sources, so the session repeats exactly; the one field left to the
// monotonic clock, the health check's "uptime", is masked before comparing.
//
// A change that alters a byte on the wire fails here. When a change to the protocol is
// intended, record the transcript again with FLS_UPDATE_GOLDEN=1 and review the diff.
#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admin_client.h"
#include "counting_ids.h"
#include "counting_keys.h"
#include "fls/common/hex.h"
#include "fls/kms/kms_client.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_service.h"
#include "fls/kms_server/pg_kms_store.h"
#include "fls/pg/migrator.h"
#include "fls/pg/query_worker.h"
#include "fls/signing/row_signer.h"
#include "kms_fixture.h"
#include "test_database.h"

namespace fls {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kService[] = "central-ledger";
constexpr char kAdminToken[] = "transcript-admin-token-0123456789";
constexpr EpochMillis kNow = 1767225600000;  // 2026-01-01T00:00:00.000Z, on both sides
constexpr auto kStepTimeout = 20s;

std::string golden_path() { return std::string(FLS_SOURCE_DIR) + "/tests/integration/golden/kms_session.transcript"; }

class FixedClock final : public Clock {
 public:
  EpochMillis now_ms() const override { return kNow; }
};

// Every text frame of the session, in the order the sidecar's I/O thread saw it go out or
// come in. The test waits for each step's last frame before the next, so the order is causal.
class Transcript {
 public:
  void add(const char* direction, const std::string& text) {
    std::lock_guard lock(mutex_);
    lines_.push_back(std::string(direction) + " " + text);
    changed_.notify_all();
  }
  bool wait_for(std::size_t lines) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kStepTimeout, [&] { return lines_.size() >= lines; });
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }
  // One frame per line; the health check's uptime reads the monotonic clock, so it is masked.
  std::string text() {
    std::lock_guard lock(mutex_);
    static const std::regex uptime(R"re("uptime":[0-9]+)re");
    std::string out;
    for (const std::string& line : lines_) out += std::regex_replace(line, uptime, R"("uptime":0)") + "\n";
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// Records what goes out through the real transport.
class RecordingTransport final : public WsTransport {
 public:
  RecordingTransport(std::shared_ptr<WsTransport> inner, Transcript& transcript)
      : inner_(std::move(inner)), transcript_(transcript) {}
  void connect(std::chrono::milliseconds timeout) override { inner_->connect(timeout); }
  void send(std::string text) override {
    transcript_.add("sidecar>", text);
    inner_->send(std::move(text));
  }
  void ping(const std::string& payload) override { inner_->ping(payload); }
  void close() override { inner_->close(); }
  std::size_t queued_bytes() const override { return inner_->queued_bytes(); }
  void when_flushed(std::function<void()> done) override { inner_->when_flushed(std::move(done)); }

 private:
  std::shared_ptr<WsTransport> inner_;
  Transcript& transcript_;
};

// The sidecar's side: keeps the registration, and answers inquiries from a list the test sets.
class ScriptedBackend final : public KmsBackend {
 public:
  void registered(Registration registration) override {
    std::lock_guard lock(mutex_);
    registration_ = std::move(registration);
    changed_.notify_all();
  }
  void acknowledged(std::string batch_id) override {
    std::lock_guard lock(mutex_);
    acknowledged_.push_back(std::move(batch_id));
    changed_.notify_all();
  }
  std::uint64_t events_last_hour() override { return 3; }
  void answer_inquiry(InquiryRequest, std::shared_ptr<InquiryReplies> replies) override {
    std::vector<InquiryItem> items;
    {
      std::lock_guard lock(mutex_);
      items = answer_;
    }
    // send() blocks until written, so it runs off the I/O thread, as the sidecar's does.
    answering_.emplace_back([replies, items]() mutable {
      const std::size_t total = items.size();
      replies->send(total, 1, std::move(items));
    });
  }

  void answer_with(std::vector<InquiryItem> items) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(items);
  }
  const Registration& wait_registered() {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kStepTimeout, [&] { return registration_.has_value(); });
    if (!registration_) throw std::runtime_error("the sidecar did not register");
    return *registration_;
  }
  bool wait_acknowledged(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kStepTimeout, [&] { return acknowledged_.size() >= count; });
  }
  void join() {
    for (auto& thread : answering_) thread.join();
    answering_.clear();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Registration> registration_;
  std::vector<std::string> acknowledged_;
  std::vector<InquiryItem> answer_;
  std::vector<std::thread> answering_;  // touched on the I/O thread and, after it stops, by join()
};

// A batch body as the sidecar stores it: rows with their CMAC, as JSON.stringify writes them.
std::string batch_body(const Registration& registration, int first_sequence, int rows) {
  RowSigner signer(registration.row_key);
  std::string body = "[";
  for (int i = 0; i < rows; ++i) {
    const std::string row = R"({"keyId":")" + registration.sidecar_id + R"(","sequence":)" +
                            std::to_string(first_sequence + i) + R"(,"message":"transfer )" +
                            std::to_string(first_sequence + i) + R"(","timestamp":"2026-01-01T00:00:00.000Z"})";
    body += (i == 0 ? "" : ",") + std::string(R"({"row":)") + row + R"(,"signature":")" + signer.sign_hex(row) + "\"}";
  }
  return body + "]";
}

TEST(KmsTranscript, ScriptedSessionMatchesTheRecordedFrames) {
  ASSERT_GE(sodium_init(), 0);
  test::TestDatabase database;
  migrate_with_retry(database.uri(), "kms_schema_migrations", migrations::kms());

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });

  FixedClock clock;
  test::CountingIds kms_ids("c0de0000");  // the KMS's ids; the sidecar's start with 5eed0000
  test::CountingKeys keys;
  const kms::KeyVault vault(std::nullopt);
  QueryWorker db(database.uri());
  db.start();
  kms::KmsServiceOptions service_options;
  service_options.admin_token = kAdminToken;
  kms::InquiryResponseLanes verifiers(io, database.uri(), 2, vault);
  verifiers.start();
  kms::PgKmsStore store(io, db, verifiers);
  auto service = std::make_shared<kms::KmsService>(io, store, vault, keys, clock, kms_ids, service_options);
  HttpServerOptions server_options;
  server_options.bind_address = "127.0.0.1";
  server_options.websocket_path = "/sidecar";
  server_options.max_websocket_message = 16 << 10;
  server_options.websocket_factory = [service](const HttpRequest& request, HttpResponse& refusal) {
    return service->accept_sidecar(request, refusal);
  };
  HttpServer server(io, server_options, [service](const HttpRequest& request, HttpRespond respond) {
    service->handle_http(request, std::move(respond));
  });
  server.start();
  service->start();
  const std::uint16_t port = server.port();
  const auto admin = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return test::http_request(port, method, target, body, kAdminToken);
  };

  const auto credential = admin("POST", "/credentials", json{{"service", kService}}.dump());
  ASSERT_EQ(credential.status, 201u) << credential.body;
  const std::string token = credential.json().value("token", "");

  Transcript transcript;
  ScriptedBackend backend;
  test::CountingIds sidecar_ids("5eed0000");
  KmsClientOptions client_options;
  client_options.url = *parse_kms_url("ws://127.0.0.1:" + std::to_string(port) + "/sidecar");
  client_options.url_text = "transcript";
  client_options.service_name = kService;
  client_options.ping_interval = 1h;              // no keep-alive traffic in the way (pings are not text anyway)
  client_options.request_timeout = kStepTimeout;  // bounds an inquiry answer's wait for its write
  WsOptions ws_options;
  ws_options.url = client_options.url;
  ws_options.bearer_token = token;
  auto client = std::make_shared<KmsClient>(
      io,
      [&](WsEvents events) {
        auto on_text = std::move(events.on_text);
        events.on_text = [&transcript, on_text](std::string text) {
          transcript.add("kms>", text);
          on_text(std::move(text));
        };
        return std::make_shared<RecordingTransport>(make_ws_transport(io, nullptr, ws_options, std::move(events)),
                                                    transcript);
      },
      clock, sidecar_ids, backend, client_options);
  boost::asio::post(io, [client] { client->start(); });

  // Registration and challenge: four frames.
  const Registration& registration = backend.wait_registered();
  ASSERT_TRUE(transcript.wait_for(4));

  // Two batches, then the first again (the KMS answers 120), each awaited.
  const std::string first_body = batch_body(registration, 1, 2);
  const std::string second_body = batch_body(registration, 3, 1);
  const BatchToSend first{"b0000000-0000-4000-8000-000000000001", registration.batch_signer.sign_hex(first_body)};
  const BatchToSend second{"b0000000-0000-4000-8000-000000000002", registration.batch_signer.sign_hex(second_body)};
  client->send(registration.sidecar_id, {first});
  ASSERT_TRUE(backend.wait_acknowledged(1));
  client->send(registration.sidecar_id, {second});
  ASSERT_TRUE(backend.wait_acknowledged(2));
  client->send(registration.sidecar_id, {first});
  ASSERT_TRUE(backend.wait_acknowledged(3));
  ASSERT_TRUE(transcript.wait_for(10));

  // A health check, asked through the admin API.
  const auto healthcheck =
      admin("POST", "/sidecars/" + registration.sidecar_id + "/healthchecks", R"({"level":"ping"})");
  ASSERT_EQ(healthcheck.status, 200u) << healthcheck.body;
  ASSERT_TRUE(transcript.wait_for(12));

  // An inquiry answered with both batches, then one answered with nothing.
  backend.answer_with({{first.batch_id, first_body}, {second.batch_id, second_body}});
  const std::string window = R"("startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-02T00:00:00.5Z")";
  const auto inquiry = admin("POST", "/inquiry", std::string(R"({"service":")") + kService + "\"," + window + "}");
  ASSERT_EQ(inquiry.status, 201u) << inquiry.body;
  ASSERT_TRUE(transcript.wait_for(15));
  // The verdict is the KMS's to publish once the responses are stored; it is read until then.
  test::HttpResult verdict;
  for (const auto until = std::chrono::steady_clock::now() + kStepTimeout; std::chrono::steady_clock::now() < until;) {
    verdict = admin("GET", inquiry.headers.at("location"));
    if (verdict.json().value("status", "") == "complete") break;
    std::this_thread::sleep_for(20ms);
  }
  backend.answer_with({});
  const auto empty = admin("POST", "/inquiry",
                           std::string(R"({"service":")") + kService +
                               R"(","startTime":"2025-12-01T00:00:00.123456Z","endTime":"2025-12-02T00:00:00Z"})");
  ASSERT_EQ(empty.status, 201u) << empty.body;
  ASSERT_TRUE(transcript.wait_for(17));

  EXPECT_EQ(transcript.size(), 17u) << transcript.text();
  EXPECT_EQ(verdict.status, 200u) << verdict.body;
  EXPECT_EQ(verdict.json().value("verified", false), true) << verdict.body;

  // The frames are all in; once the answers are written, nothing more is compared. The
  // connection is closed and the loop stops once the KMS has seen it close: a session and the
  // service hold each other until then (LeakSanitizer would find them if the loop stopped first).
  backend.join();
  boost::asio::post(io, [&] {
    client->stop();
    server.stop();
    service->close_all();
  });
  EXPECT_TRUE(test::eventually(
      [&] { return database.count("SELECT count(*) FROM kms_sidecars WHERE status <> 'terminated'") == 0; }));
  boost::asio::post(io, [&] { io.stop(); });
  io_thread.join();
  verifiers.stop();
  db.stop(/*finish_queued=*/false);

  const std::string recorded = transcript.text();
  if (const char* update = std::getenv("FLS_UPDATE_GOLDEN"); update != nullptr && std::string(update) == "1") {
    std::ofstream(golden_path(), std::ios::binary) << recorded;
    GTEST_SKIP() << "recorded " << golden_path();
  }
  std::ifstream golden_file(golden_path(), std::ios::binary);
  ASSERT_TRUE(golden_file) << "no transcript at " << golden_path() << "; record one with FLS_UPDATE_GOLDEN=1";
  std::stringstream golden;
  golden << golden_file.rdbuf();
  EXPECT_EQ(recorded, golden.str());
}

}  // namespace
}  // namespace fls
