// Faults under load: a kill -9 and restart, and the KMS away for a while. Every message that
// was committed (kill -9) or sent (KMS outage) must end up in a batch the KMS acknowledged
// and that verifies with independent code.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "admin_client.h"
#include "sidecar_fixture.h"

namespace fls::test {
namespace {

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

class SidecarFaultTest : public SidecarFixture {};

// After a kill -9 PostgreSQL may still complete a COMMIT the killed process had sent: what is
// committed is known only once the process's sessions have ended, which they do as soon as the
// server sees its sockets closed. The test holds no session of its own between queries, and
// each query's own session is left out. Polls (there is no event to wait on), bounded.
bool wait_until_sessions_end(TestDatabase& db, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (db.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND backend_type = 'client backend' AND pid <> pg_backend_pid()") == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(SidecarFaultTest, AfterKillNineEveryCommittedMessageIsBatchedAndDeliveredOnRestart) {
  // A long interval: the open batch at the kill can only be closed by the recovery.
  const std::map<std::string, std::string> settings{{"SIDE_BATCH_TIME_INTERVAL", "300000"}};
  auto sidecar = start_sidecar(settings);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  constexpr int kSent = 50'000;
  std::thread writer([&] { send_frames(intake_port_, numbered("before the kill #", kSent), true); });
  // Kill while messages are still arriving: wait for part of them only.
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 2000)) << sidecar->output();
  EXPECT_EQ(sidecar->stop(SIGKILL), 128 + SIGKILL);
  writer.join();
  ASSERT_TRUE(wait_until_sessions_end(db_)) << "the killed sidecar's database sessions did not end";
  const long long committed = db_.count("SELECT count(*) FROM events");
  ASSERT_GE(committed, 2000);
  // Messages the client had sent but the sidecar had not committed are the bounded loss of a
  // kill -9: at most what was read into memory (SIDE_MAX_QUEUED_BYTES) and in socket buffers.
  std::cout << "kill -9: " << committed << " of " << kSent << " messages were committed before the kill; the rest were "
            << "not yet sent, or in socket buffers or the intake queue\n";

  auto restarted = start_sidecar(settings);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 2; })) << restarted->output();
  send_frames(intake_port_, numbered("after the restart #", 64));  // one full batch under the new id
  ASSERT_TRUE(wait_for_acknowledged_events(committed + 64)) << restarted->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM batches WHERE data IS NULL OR acknowledged IS NULL"), 0);
  EXPECT_EQ(verify_everything_stored(), static_cast<std::size_t>(committed + 64));
}

TEST_F(SidecarFaultTest, AfterKillNineTheBatchLeftOpenIsClosedWithTheNewKeyAndDelivered) {
  const std::map<std::string, std::string> settings{{"SIDE_BATCH_TIME_INTERVAL", "300000"}};
  auto sidecar = start_sidecar(settings);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  send_frames(intake_port_, numbered("left open #", 10));
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 10));
  EXPECT_EQ(sidecar->stop(SIGKILL), 128 + SIGKILL);
  ASSERT_EQ(db_.count("SELECT count(*) FROM batches WHERE data IS NULL"), 1);

  auto restarted = start_sidecar(settings);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 2; })) << restarted->output();
  ASSERT_TRUE(wait_for_acknowledged_events(10)) << restarted->output();
  const auto registrations = kms_->registrations();
  // The rows keep the first registration's keyId; the batch is delivered by the second.
  EXPECT_EQ(kms_->batches().begin()->second.sidecar_id, registrations[1].sidecar_id);
  EXPECT_EQ(db_.count("SELECT count(*) FROM events WHERE sidecar_id = '" + registrations[0].sidecar_id + "'"), 10);
  EXPECT_EQ(verify_everything_stored(), 10u);
}

TEST_F(SidecarFaultTest, MessagesSentWhileTheKmsIsAwayAreDeliveredWhenItReturns) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "10"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  const std::uint16_t kms_port = kms_->port();
  send_frames(intake_port_, numbered("while up #", 50));
  ASSERT_TRUE(wait_for_acknowledged_events(50));
  const auto first = kms_->registrations().front();
  const auto first_batches = kms_->batches();

  kms_.reset();  // the KMS goes away: its socket closes and its port refuses connections
  send_frames(intake_port_, numbered("while away #", 200));
  // Stored and batched under the registration the sidecar still holds keys for.
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM batches WHERE data IS NOT NULL", 25)) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM batches WHERE acknowledged IS NULL"), 20);

  kms_ = std::make_unique<KmsPeer>(kms_port);
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; })) << sidecar->output();
  ASSERT_TRUE(wait_for_acknowledged_events(250)) << sidecar->output();
  // The new peer knows nothing of the first registration: give it those keys and batches so
  // they can be checked too, as the real KMS keeps every registration's keys and batches.
  kms_->remember_registration(first, first_batches);
  EXPECT_EQ(verify_everything_stored(), 250u);
}

// Runs pg_ctl `action` on the test cluster that scripts/test.sh started (FLS_PG_DIR).
void pg_ctl(const std::string& action) {
  const char* dir = std::getenv("FLS_PG_DIR");
  ASSERT_NE(dir, nullptr) << "FLS_PG_DIR is not set: run the tests through scripts/test.sh";
  const std::string pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl -D " + std::string(dir) + "/data -l " +
                             std::string(dir) + "/postgres.log -m fast -w " + action;
  const std::string command = (geteuid() == 0 ? "runuser -u postgres -- " : "") + pg_ctl + " > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

// Restarts the test cluster, dropping every connection.
void restart_postgres() { pg_ctl("restart"); }

TEST_F(SidecarFaultTest, APostgresRestartUnderLoadLosesNothing) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_TIME_INTERVAL", "500"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  constexpr int kSent = 20'000;
  std::thread writer([&] { send_frames(intake_port_, numbered("through the restart #", kSent)); });
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 1000)) << sidecar->output();
  restart_postgres();
  writer.join();  // every frame was written: the sidecar held the client while the database was away
  ASSERT_TRUE(wait_for_acknowledged_events(kSent, std::chrono::seconds(120))) << sidecar->output();
  EXPECT_NE(sidecar->output().find("database writes succeed again"), std::string::npos)
      << "the restart did not interrupt the writer; the test proved nothing";
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), kSent);
  EXPECT_EQ(verify_everything_stored(), static_cast<std::size_t>(kSent));
}

// /ready polled until it answers `status` (no event to wait on across processes), bounded.
bool ready_becomes(std::uint16_t health_port, unsigned status, std::string& body) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto response = http_request(health_port, "GET", "/ready");
    body = response.body;
    if (response.status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_F(SidecarFaultTest, ReadinessFollowsTheDatabaseWhileIdle) {
  auto sidecar = start_sidecar({{"SIDE_BATCH_SIZE", "5"}});
  std::string body;
  ASSERT_TRUE(ready_becomes(health_port_, 200, body)) << body << sidecar->output();
  pg_ctl("stop");  // nothing is being written: only the idle check can notice
  const bool noticed = ready_becomes(health_port_, 503, body);
  pg_ctl("start");
  ASSERT_TRUE(noticed) << body << sidecar->output();
  EXPECT_NE(body.find("the database is not accepting writes"), std::string::npos) << body;
  ASSERT_TRUE(ready_becomes(health_port_, 200, body)) << body << sidecar->output();
  ASSERT_TRUE(send_frames(intake_port_, numbered("after the outage #", 10)));
  ASSERT_TRUE(wait_for_acknowledged_events(10, std::chrono::seconds(60))) << sidecar->output();
}

}  // namespace
}  // namespace fls::test
