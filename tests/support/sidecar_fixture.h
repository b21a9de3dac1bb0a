#pragma once
// The fixture of the sidecar's integration tests: a fresh database, a KMS peer on loopback and
// the real sidecar executable between them, plus the independent checks of what it stored.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "child_process.h"
#include "kms_peer.h"
#include "test_database.h"

namespace fls::test {

class SidecarFixture : public ::testing::Test {
 protected:
  SidecarFixture();

  // The sidecar's environment: loopback ports, the peer's URL, quick reconnects.
  std::map<std::string, std::string> sidecar_env() const;
  // Starts the sidecar and waits until it listens.
  std::unique_ptr<ChildProcess> start_sidecar(const std::map<std::string, std::string>& overrides = {});

  // Waits until the query's count reaches `n`.
  bool wait_for_count(const std::string& sql, long long n,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits until `n` events are stored in closed batches the peer acknowledged.
  bool wait_for_acknowledged_events(long long n, std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Checks every stored batch and row with independent code: each batch's signature (as the
  // peer received it) over its stored data under the delivering registration's public key;
  // each row's CMAC under its keyId's row key; rows match the events table; sequences have
  // no gaps per keyId. Returns the number of rows checked.
  std::size_t verify_everything_stored();

  TestDatabase db_;
  std::unique_ptr<KmsPeer> kms_;
  std::uint16_t intake_port_;
  std::uint16_t health_port_;
};

}  // namespace fls::test
