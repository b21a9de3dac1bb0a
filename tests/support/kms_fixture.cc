#include "kms_fixture.h"

#include <ctime>
#include <thread>
#include <vector>

#include "independent_crypto.h"

namespace fls::test {

using json = nlohmann::json;

std::string iso_now_plus(std::chrono::seconds offset) {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + offset);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buffer;
}

bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void KmsFixture::start_kms(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env{
      {"KMS_DATABASE_URI", kms_db_.uri()},     {"KMS_MASTER_KEY", hex(random_bytes(32))},
      {"KMS_ADMIN_TOKEN", kAdminToken},        {"KMS_AUDITOR_TOKEN", kAuditorToken},
      {"KMS_PORT", std::to_string(kms_port_)}, {"KMS_BIND_ADDRESS", "127.0.0.1"},
      {"KMS_INQUIRY_TIMEOUT", "10000"},        {"KMS_LOG_LEVEL", "debug"}};
  for (const auto& [name, value] : overrides) env[name] = value;
  kms_ = std::make_unique<ChildProcess>(kKmsBinary, env);
  ASSERT_TRUE(kms_->wait_for_output("serving")) << kms_->output();
}

Credential KmsFixture::create_credential(const std::string& service) {
  const auto created = admin("POST", "/credentials", json{{"service", service}}.dump());
  EXPECT_EQ(created.status, 201u) << created.body;
  const json body = created.json();
  return Credential{body.value("id", ""), body.value("token", "")};
}

void KmsFixture::start_sidecar(int batch_size, const std::string& token) {
  std::map<std::string, std::string> env{{"SIDE_DATABASE_URI", sidecar_db_.uri()},
                                         {"SIDE_KMS__URL", "ws://127.0.0.1:" + std::to_string(kms_port_) + "/sidecar"},
                                         {"SIDE_PORT", std::to_string(intake_port_)},
                                         {"SIDE_HEALTH_PORT", std::to_string(free_port())},
                                         {"SIDE_BIND_ADDRESS", "127.0.0.1"},
                                         {"SIDE_SERVICE", kService},
                                         {"SIDE_BATCH_SIZE", std::to_string(batch_size)},
                                         {"SIDE_KMS__RECONNECT_INTERVAL", "100"}};
  if (!token.empty()) env["SIDE_KMS__TOKEN"] = token;
  sidecar_ = std::make_unique<ChildProcess>(kSidecarBinary, env);
  ASSERT_TRUE(eventually([&] {
    const auto sidecars = admin("GET", "/sidecars").json();
    return sidecars.is_array() && !sidecars.empty() && sidecars.back()["status"] == "registered";
  })) << sidecar_->output()
      << kms_->output();
}

void KmsFixture::send_and_settle(int n) {
  std::vector<std::string> messages;
  for (int i = 0; i < n; ++i) messages.push_back("transfer " + std::to_string(i) + " committed");
  send_frames(intake_port_, messages);
  ASSERT_TRUE(eventually([&] {
    return sidecar_db_.count(
               "SELECT count(*) FROM events e JOIN batches b USING (batch_id) "
               "WHERE b.acknowledged IS NOT NULL") == n;
  })) << sidecar_->output();
}

HttpResult KmsFixture::admin(const std::string& method, const std::string& target, const std::string& body,
                             const std::string& token) {
  return http_request(kms_port_, method, target, body, token);
}

std::string KmsFixture::start_inquiry(const std::string& service) {
  const auto created = admin("POST", "/inquiry",
                             json{{"service", service},
                                  {"startTime", iso_now_plus(std::chrono::seconds(-3600))},
                                  {"endTime", iso_now_plus(std::chrono::seconds(3600))}}
                                 .dump());
  EXPECT_EQ(created.status, 201u) << created.body;
  EXPECT_TRUE(created.body.empty());
  const std::string location = created.headers.count("location") ? created.headers.at("location") : "";
  EXPECT_EQ(location.rfind("/inquiry/", 0), 0u);
  return location;
}

json KmsFixture::wait_for_verdict(const std::string& location) {
  json result;
  EXPECT_TRUE(eventually([&] {
    result = admin("GET", location).json();
    return result["status"] == "complete";
  })) << result.dump();
  return result;
}

}  // namespace fls::test
