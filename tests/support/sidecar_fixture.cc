#include "sidecar_fixture.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace fls::test {

using ordered_json = nlohmann::ordered_json;

SidecarFixture::SidecarFixture()
    : kms_(std::make_unique<KmsPeer>()), intake_port_(free_port()), health_port_(free_port()) {}

std::map<std::string, std::string> SidecarFixture::sidecar_env() const {
  return {{"SIDE_DATABASE_URI", db_.uri()},
          {"SIDE_KMS__URL", kms_ ? kms_->url() : "ws://127.0.0.1:1/sidecar"},
          {"SIDE_PORT", std::to_string(intake_port_)},
          {"SIDE_HEALTH_PORT", std::to_string(health_port_)},
          {"SIDE_BIND_ADDRESS", "127.0.0.1"},
          {"SIDE_SERVICE", "LedgerUnderTest"},
          {"SIDE_KMS__RECONNECT_INTERVAL", "100"},
          {"SIDE_LOG_LEVEL", "debug"}};
}

std::unique_ptr<ChildProcess> SidecarFixture::start_sidecar(const std::map<std::string, std::string>& overrides) {
  auto env = sidecar_env();
  for (const auto& [k, v] : overrides) env[k] = v;
  auto process = std::make_unique<ChildProcess>(kSidecarBinary, env);
  EXPECT_TRUE(process->wait_for_output("HTTP listening")) << process->output();
  return process;
}

bool SidecarFixture::wait_for_count(const std::string& sql, long long n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The database offers no notification for this; poll it with a bounded loop.
  while (std::chrono::steady_clock::now() < deadline) {
    if (db_.count(sql) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool SidecarFixture::wait_for_acknowledged_events(long long n, std::chrono::milliseconds timeout) {
  return wait_for_count(
      "SELECT count(*) FROM events e JOIN batches b ON b.batch_id = e.batch_id WHERE b.acknowledged IS NOT NULL", n,
      timeout);
}

std::size_t SidecarFixture::verify_everything_stored() {
  std::map<std::string, PeerRegistration> registrations;
  for (auto& r : kms_->registrations()) registrations[r.sidecar_id] = r;
  const auto received = kms_->batches();

  std::map<std::pair<std::string, long long>, std::pair<std::string, std::string>> events;  // signature, message
  for (const auto& row :
       db_.query("SELECT sidecar_id, sequence, signature, convert_from(message, 'UTF8') FROM events")) {
    events[{row[0].c_str(), row[1].as<long long>()}] = {row[2].c_str(), row[3].c_str()};
  }

  std::map<std::string, std::set<long long>> sequences;
  std::size_t rows_checked = 0;
  for (const auto& batch : db_.query("SELECT batch_id, data FROM batches WHERE data IS NOT NULL")) {
    const std::string batch_id = batch[0].c_str();
    const std::string data = batch[1].c_str();
    const auto peer_batch = received.find(batch_id);
    EXPECT_NE(peer_batch, received.end()) << "batch " << batch_id << " never reached the KMS";
    if (peer_batch == received.end()) continue;
    const auto& sender = registrations.at(peer_batch->second.sidecar_id);
    EXPECT_TRUE(ed25519_verify(sender.batch_key.public_key, data, unhex(peer_batch->second.signature)))
        << "batch " << batch_id << " signature does not verify over the stored data";

    for (const auto& element : ordered_json::parse(data)) {
      const auto& row = element.at("row");
      const std::string key_id = row.at("keyId");
      const long long sequence = row.at("sequence");
      const std::string signature = element.at("signature");
      EXPECT_EQ(hex(rfc4493_cmac(registrations.at(key_id).row_key, row.dump())), signature)
          << "row " << key_id << "/" << sequence;
      const auto stored = events.find({key_id, sequence});
      EXPECT_NE(stored, events.end()) << "row " << key_id << "/" << sequence << " is not in the events table";
      if (stored != events.end()) {
        EXPECT_EQ(stored->second.first, signature);
        EXPECT_EQ(stored->second.second, row.at("message").get<std::string>());
      }
      EXPECT_TRUE(sequences[key_id].insert(sequence).second) << "row in two batches";
      ++rows_checked;
    }
  }
  for (const auto& [key_id, seen] : sequences) {
    EXPECT_EQ(*seen.begin(), 1) << key_id;
    EXPECT_EQ(*seen.rbegin(), static_cast<long long>(seen.size())) << "gap in the sequence of " << key_id;
  }
  EXPECT_EQ(rows_checked, events.size()) << "events that are in no closed batch";
  return rows_checked;
}

}  // namespace fls::test
