#pragma once
// fls-kms and the real sidecar as child processes on loopback, each with a fresh database, for
// the tests that check them together (tests/integration/kms_*_test.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "admin_client.h"
#include "child_process.h"
#include "test_database.h"

namespace fls::test {

inline constexpr const char* kAdminToken = "integration-admin-token";
inline constexpr const char* kAuditorToken = "integration-auditor-token";
inline constexpr const char* kService = "central-ledger";

// "now + offset" as an ISO-8601 UTC instant, whole seconds.
std::string iso_now_plus(std::chrono::seconds offset);

// Polls `condition` (no event to wait on across processes), bounded by `timeout`.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout = std::chrono::seconds(30));

struct Credential {
  std::string id;
  std::string token;
};

class KmsFixture : public ::testing::Test {
 protected:
  // fls-kms with an admin and an auditor token and a fresh master key; `overrides` replace or
  // add variables.
  void start_kms(const std::map<std::string, std::string>& overrides = {});
  // A new credential for `service`, made through the admin API.
  Credential create_credential(const std::string& service = kService);
  // The real sidecar for kService with the given credential token; waits until it registered.
  void start_sidecar(int batch_size, const std::string& token);
  // Sends `n` messages and waits until the KMS acknowledged every batch holding them.
  void send_and_settle(int n);

  HttpResult admin(const std::string& method, const std::string& target, const std::string& body = {},
                   const std::string& token = kAdminToken);
  // Posts an inquiry over the last and next hour for `service`; its Location.
  std::string start_inquiry(const std::string& service = kService);
  // Waits until the inquiry at `location` is complete; its verdict.
  nlohmann::json wait_for_verdict(const std::string& location);
  nlohmann::json verdict(const std::string& service = kService) { return wait_for_verdict(start_inquiry(service)); }

  TestDatabase kms_db_;
  TestDatabase sidecar_db_;
  std::uint16_t kms_port_ = free_port();
  std::uint16_t intake_port_ = free_port();
  std::unique_ptr<ChildProcess> kms_;
  std::unique_ptr<ChildProcess> sidecar_;
};

}  // namespace fls::test
