// Back-pressure: while the store cannot commit, a client writing as fast as it can is held
// by TCP and the sidecar's queued bytes stay under SIDE_MAX_QUEUED_BYTES; afterwards every
// message is stored. Partial frames count against the same bound, and SIDE_FRAME_TIMEOUT
// closes the clients that stop in the middle of one.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <regex>
#include <string_view>
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

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string frame_header(std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}

std::string frame(const std::string& payload) { return frame_header(payload.size()) + payload; }

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A client of the intake written to byte by byte, every wait bounded. The sidecar never writes
// back, so readability means it closed the connection.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect: " << std::strerror(errno);
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~RawClient() {
    if (background_.joinable()) background_.join();
    ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Writes all of `bytes`; false if the sidecar had not taken them when `timeout` passed.
  bool write(std::string_view bytes, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      if (!wait_for(POLLOUT, deadline)) return false;
    }
    return true;
  }

  // The same from a thread of its own, for more than the kernel takes while the sidecar does not
  // read; joined by the destructor (bounded by `timeout`).
  void write_in_background(std::string bytes, std::chrono::milliseconds timeout = 20s) {
    background_ = std::thread([this, bytes = std::move(bytes), timeout] { write(bytes, timeout); });
  }

  // True once the sidecar has closed the connection, waiting up to `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      char byte;
      const ssize_t n = ::recv(fd_, &byte, 1, 0);
      if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) return true;
      if (n > 0) ADD_FAILURE() << "the sidecar wrote to a client";
      if (!wait_for(POLLIN, deadline)) return false;
    }
  }

 private:
  bool wait_for(short events, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
  }

  int fd_;
  std::thread background_;
};

TEST_F(SidecarBackpressureTest, AStalledStoreHoldsTheClientWithinTheBoundAndLosesNothing) {
  constexpr long long kBound = 1 << 20;  // 1 MiB
  auto sidecar = start_sidecar({{"SIDE_MAX_QUEUED_BYTES", std::to_string(kBound)}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));

  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM sidecars", 1));  // the registration is committed
  // Stall the store: hold a lock on the events table that every COPY must wait for.
  pqxx::connection blocker(db_.uri());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");

  // 48 MB of 1 KiB messages: far more than the bound and than the kernel's buffers on both ends
  // of a loopback connection together (tcp_rmem's maximum is 32 MiB on some machines, and the
  // receive buffer grows while the intake still reads), so the client can only finish once
  // the store resumes.
  constexpr int kMessages = 48'000;
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

// Many clients each stop one byte short of a large frame. The bytes they hold count against
// SIDE_MAX_QUEUED_BYTES, so reading pauses and another client's complete frames wait; the frame
// timeout closes the stalled clients, and then those frames are stored.
TEST_F(SidecarBackpressureTest, StalledPartialFramesFillTheBoundUntilTheFrameTimeoutClosesThem) {
  constexpr long long kBound = 256 << 10;
  constexpr std::size_t kFrame = 256 << 10;  // each stalled frame is as large as the whole bound
  constexpr int kStalled = 8;
  auto sidecar = start_sidecar({{"SIDE_MAX_QUEUED_BYTES", std::to_string(kBound)}, {"SIDE_FRAME_TIMEOUT", "500"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));

  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(std::make_unique<RawClient>(intake_port_));
    stalled.back()->write_in_background(frame_header(kFrame) + std::string(kFrame - 1, static_cast<char>('a' + i)));
  }
  // Partial frames alone fill the bound: nothing is complete, so no event can be stored.
  long long held = 0;
  const auto filled_by = Clock::now() + 10s;
  while (held < kBound && Clock::now() < filled_by) {
    held = metric(health_port_, "fls_sidecar_queued_bytes");
    std::this_thread::sleep_for(20ms);  // polling a gauge
  }
  ASSERT_GE(held, kBound) << "partial frames do not count against SIDE_MAX_QUEUED_BYTES\n" << sidecar->output();

  RawClient waiting(intake_port_);
  ASSERT_TRUE(waiting.write(frame("first") + frame("second") + frame("third")));

  // Until a stalled client is closed, the complete frames wait; the intake's memory stays within
  // the bound plus one read and the one frame a connection may finish past it.
  long long most_held = held;
  std::vector<bool> closed(kStalled, false);
  const auto deadline = Clock::now() + 30s;
  while (std::count(closed.begin(), closed.end(), true) < kStalled && Clock::now() < deadline) {
    const long long stored = db_.count("SELECT count(*) FROM events");  // before looking at the clients
    most_held = std::max(most_held, metric(health_port_, "fls_sidecar_queued_bytes"));
    const bool none_closed = std::count(closed.begin(), closed.end(), true) == 0;
    for (int i = 0; i < kStalled; ++i) {
      if (!closed[i]) closed[i] = stalled[i]->closed_within(0ms);
    }
    if (none_closed && std::count(closed.begin(), closed.end(), true) == 0) {
      ASSERT_EQ(stored, 0) << "a frame was read while stalled partial frames held the whole bound";
    }
    std::this_thread::sleep_for(20ms);  // sampling the clients and the gauge
  }
  for (int i = 0; i < kStalled; ++i) EXPECT_TRUE(closed[i]) << "stalled client " << i << " was never closed";
  EXPECT_LE(most_held, kBound + (64 << 10) + static_cast<long long>(kFrame) + 4);

  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 3)) << sidecar->output();
  EXPECT_FALSE(waiting.closed_within(0ms));
  const auto output = sidecar->output();
  EXPECT_EQ(occurrences(output, "no byte for SIDE_FRAME_TIMEOUT (500 ms) in the middle of a frame"),
            static_cast<std::size_t>(kStalled))
      << output;
  EXPECT_NE(output.find("bytes of it received and discarded"), std::string::npos);
  EXPECT_EQ(metric(health_port_, "fls_sidecar_protocol_errors_total"), kStalled);
}

// An idle connection (no partial frame) is never timed out, however long it says nothing, even
// while the frame sweep runs for another client that stalls in the middle of a frame.
TEST_F(SidecarBackpressureTest, ConnectionsBetweenFramesStayOpenPastTheFrameTimeout) {
  auto sidecar = start_sidecar({{"SIDE_FRAME_TIMEOUT", "200"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  RawClient silent(intake_port_);
  RawClient after_a_frame(intake_port_);
  ASSERT_TRUE(after_a_frame.write(frame("one whole frame")));
  RawClient stalled(intake_port_);
  ASSERT_TRUE(stalled.write(frame_header(10) + "abc"));
  EXPECT_TRUE(stalled.closed_within(5s)) << sidecar->output();
  // Ten timeouts of silence.
  EXPECT_FALSE(silent.closed_within(2s)) << sidecar->output();
  EXPECT_FALSE(after_a_frame.closed_within(0ms)) << sidecar->output();
  // Both still serve.
  ASSERT_TRUE(silent.write(frame("from the silent one")));
  ASSERT_TRUE(after_a_frame.write(frame("and another")));
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 3)) << sidecar->output();
  EXPECT_EQ(occurrences(sidecar->output(), "SIDE_FRAME_TIMEOUT"), 1u) << sidecar->output();
}

// The timeout is about silence, not about how long a frame takes.
TEST_F(SidecarBackpressureTest, AFrameSentSlowlyButSteadilyIsNotCutOff) {
  auto sidecar = start_sidecar({{"SIDE_FRAME_TIMEOUT", "500"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  RawClient slow(intake_port_);
  const std::string bytes = frame("one byte at a time");  // 22 bytes: 2.2 s, over four timeouts
  for (const char byte : bytes) {
    ASSERT_TRUE(slow.write(std::string_view(&byte, 1)));
    EXPECT_FALSE(slow.closed_within(100ms)) << sidecar->output();  // paces the bytes, and watches
  }
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", 1)) << sidecar->output();
  EXPECT_FALSE(slow.closed_within(0ms));
  EXPECT_EQ(sidecar->output().find("SIDE_FRAME_TIMEOUT"), std::string::npos) << sidecar->output();
}

// A pause that the store causes is not the client's silence: a client held in the middle of a
// frame while commits cannot happen is not closed, however long that takes.
TEST_F(SidecarBackpressureTest, AStalledStoreDoesNotCountAgainstTheFrameTimeout) {
  constexpr long long kBound = 256 << 10;
  auto sidecar = start_sidecar({{"SIDE_MAX_QUEUED_BYTES", std::to_string(kBound)}, {"SIDE_FRAME_TIMEOUT", "300"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM sidecars", 1));
  pqxx::connection blocker(db_.uri());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");

  // 1033-byte frames: the 64 KiB reads end in the middle of one.
  constexpr int kMessages = 2000;
  std::string bytes;
  for (int i = 0; i < kMessages; ++i) bytes += frame(std::to_string(1000 + i) + std::string(1025, 'x'));
  RawClient client(intake_port_);
  client.write_in_background(bytes, 60s);
  long long held = 0;
  const auto filled_by = Clock::now() + 10s;
  while (held < kBound && Clock::now() < filled_by) {
    held = metric(health_port_, "fls_sidecar_queued_bytes");
    std::this_thread::sleep_for(20ms);  // polling a gauge
  }
  ASSERT_GE(held, kBound) << sidecar->output();
  // The store stays stalled for ten frame timeouts.
  ASSERT_FALSE(client.closed_within(3s)) << sidecar->output();

  lock.abort();
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", kMessages, 60s)) << sidecar->output();
  EXPECT_FALSE(client.closed_within(0ms));
  EXPECT_EQ(sidecar->output().find("SIDE_FRAME_TIMEOUT"), std::string::npos) << sidecar->output();
}

// Clients that each send frames larger than the whole bound, all at once: partial frames alone
// fill it, and the intake still completes them one at a time instead of waiting forever or
// timing them out.
TEST_F(SidecarBackpressureTest, FramesLargerThanTheBoundFromManyClientsAtOnceAreAllStored) {
  constexpr long long kBound = 64 << 10;
  constexpr int kClients = 6;
  constexpr int kFramesEach = 4;
  auto sidecar = start_sidecar({{"SIDE_MAX_QUEUED_BYTES", std::to_string(kBound)}, {"SIDE_FRAME_TIMEOUT", "500"}});
  ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() == 1; }));
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    std::string bytes;
    for (int f = 0; f < kFramesEach; ++f) bytes += frame(std::string(200 << 10, static_cast<char>('a' + c)));
    clients.push_back(std::make_unique<RawClient>(intake_port_));
    clients.back()->write_in_background(std::move(bytes), 60s);
  }
  ASSERT_TRUE(wait_for_count("SELECT count(*) FROM events", kClients * kFramesEach)) << sidecar->output();
  for (auto& client : clients) EXPECT_FALSE(client->closed_within(0ms));
  EXPECT_EQ(sidecar->output().find("SIDE_FRAME_TIMEOUT"), std::string::npos) << sidecar->output();
  EXPECT_EQ(db_.count("SELECT count(*) FROM events WHERE length(message) = " + std::to_string(200 << 10)),
            kClients * kFramesEach);
}

}  // namespace
}  // namespace fls::test
