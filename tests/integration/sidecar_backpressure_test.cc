// Back-pressure: while the store cannot commit, a client writing as fast as it can is held
// by TCP and the sidecar's queued bytes stay under SIDE_MAX_QUEUED_BYTES; afterwards every
// message is stored.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <thread>

#include "admin_client.h"
#include "sidecar_fixture.h"

namespace fls::test {
namespace {

class SidecarBackpressureTest : public SidecarFixture {};

long long metric(std::uint16_t port, const std::string& name) {
  const auto body = http_request(port, "GET", "/metrics").body;
  std::smatch match;
  if (!std::regex_search(body, match, std::regex("\\n" + name + " ([0-9.e+]+)\\n"))) return -1;
  return static_cast<long long>(std::stod(match[1]));
}

TEST_F(SidecarBackpressureTest, AStalledStoreHoldsTheClientWithinTheBoundAndLosesNothing) {
  constexpr long long kBound = 1 << 20;  // 1 MiB
  auto sidecar = start_sidecar({{"SIDE_MAX_QUEUED_BYTES", std::to_string(kBound)}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));

  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM sidecars", 1));  // the registration is committed
  // Stall the store: hold a lock on the events table that every COPY must wait for.
  pqxx::connection blocker(db_.uri());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");

  constexpr int kMessages = 8000;  // 8 MB of 1 KiB messages: eight times the bound
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    std::vector<std::string> messages;
    for (int i = 0; i < kMessages; ++i) messages.push_back(std::to_string(i) + std::string(1024, 'x'));
    send_frames(intake_port_, messages);
    client_done = true;
  });
  // The queue fills to the bound and stays there: the client cannot finish while the store is stalled.
  long long queued = 0;
  for (int i = 0; i < 40 && queued < kBound; ++i) {
    queued = metric(health_port_, "fls_sidecar_queued_bytes");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // sampling a gauge over time
  }
  EXPECT_GE(queued, kBound) << "the queue never filled";
  // Over the bound by at most one 64 KiB read per connection (one connection here).
  EXPECT_LE(queued, kBound + (64 << 10) + 1100) << "the intake read past its bound";
  EXPECT_FALSE(client_done) << "the client was not held";

  lock.abort();  // the store resumes
  client.join();
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", kMessages, std::chrono::seconds(60))) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(DISTINCT sequence) FROM events"), kMessages);
}

}  // namespace
}  // namespace fls::test
