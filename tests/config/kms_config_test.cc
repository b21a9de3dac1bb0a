// fls-kms's configuration (protocol.md §7 and the README's KMS_* table): access-control
// settings, their defaults and their errors.
#include "fls/config/kms_config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fls/config/env.h"

namespace fls {
namespace {

using Env = std::map<std::string, std::string>;

constexpr const char* kMasterKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

KmsConfig load(Env env) {
  env.emplace("KMS_DATABASE_URI", "postgres://kms@db/kms");
  return load_kms_config(EnvReader([env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  }));
}

// A production configuration plus `extra`.
KmsConfig load_production(Env extra = {}) {
  extra.emplace("KMS_MASTER_KEY", kMasterKey);
  extra.emplace("KMS_ADMIN_TOKEN", "an-admin-token-of-length");
  return load(std::move(extra));
}

std::string error_of(Env extra) {
  try {
    load_production(std::move(extra));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return {};
}

TEST(KmsConfig, RegistrationNeedsATokenUnlessDevModeOrSaidOtherwise) {
  EXPECT_EQ(load_production().registration, RegistrationMode::token);
  EXPECT_EQ(load({{"KMS_DEV_MODE", "true"}}).registration, RegistrationMode::open);
  EXPECT_EQ(load({{"KMS_DEV_MODE", "true"}, {"KMS_REGISTRATION", "token"}}).registration, RegistrationMode::token);
  EXPECT_EQ(load_production({{"KMS_REGISTRATION", "open"}}).registration, RegistrationMode::open);
  EXPECT_EQ(error_of({{"KMS_REGISTRATION", "mutual"}}).rfind("KMS_REGISTRATION must be open or token", 0), 0u);
}

TEST(KmsConfig, TokensAreLongAndDistinct) {
  EXPECT_EQ(error_of({{"KMS_ADMIN_TOKEN", "short"}}), "KMS_ADMIN_TOKEN must be at least 16 characters, got 5");
  EXPECT_EQ(error_of({{"KMS_AUDITOR_TOKEN", "tiny"}}), "KMS_AUDITOR_TOKEN must be at least 16 characters, got 4");
  EXPECT_EQ(error_of({{"KMS_AUDITOR_TOKEN", "an-admin-token-of-length"}}),
            "KMS_AUDITOR_TOKEN must differ from KMS_ADMIN_TOKEN");
  EXPECT_EQ(load_production({{"KMS_AUDITOR_TOKEN", "an-auditor-token-too"}}).auditor_token,
            std::optional<std::string>("an-auditor-token-too"));
}

TEST(KmsConfig, LimitsHaveDefaultsAndRanges) {
  const KmsConfig c = load_production();
  EXPECT_EQ(c.max_connections, 1024u);
  EXPECT_EQ(c.max_message_size, 16u << 20);
  EXPECT_EQ(c.max_unregistered_message_size, 16u << 10);
  EXPECT_EQ(c.registration_timeout.count(), 30'000);
  EXPECT_EQ(c.max_registrations, 10'000u);
  EXPECT_EQ(c.max_registrations_per_credential, 100u);
  EXPECT_EQ(c.registration_retention.count(), 7LL * 24 * 3600 * 1000);
  EXPECT_NE(error_of({{"KMS_MAX_CONNECTIONS", "0"}}).find("KMS_MAX_CONNECTIONS"), std::string::npos);
  EXPECT_NE(error_of({{"KMS_MAX_UNREGISTERED_MESSAGE_SIZE", "12"}}).find("KMS_MAX_UNREGISTERED_MESSAGE_SIZE"),
            std::string::npos);
  EXPECT_NE(error_of({{"KMS_REGISTRATION_RETENTION", "soon"}}).find("KMS_REGISTRATION_RETENTION"), std::string::npos);
  EXPECT_EQ(c.max_inquiries, 4u);
  EXPECT_GE(c.inquiry_verifiers, 1u);
  EXPECT_NE(error_of({{"KMS_MAX_INQUIRIES", "0"}}).find("KMS_MAX_INQUIRIES"), std::string::npos);
  EXPECT_NE(error_of({{"KMS_INQUIRY_VERIFIERS", "65"}}).find("KMS_INQUIRY_VERIFIERS"), std::string::npos);
}

}  // namespace
}  // namespace fls
