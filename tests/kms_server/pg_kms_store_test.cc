// PgKmsStore, fls-kms's KmsStore in PostgreSQL, against a real database: every call answers once
// on the I/O thread, registrations are checked against credentials and limits in their own
// transaction, batch ids are unique per scope (also within one coalesced transaction), health
// checks complete once, and an inquiry's report comes from what was stored.
#include "fls/kms_server/pg_kms_store.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fls/pg/migration.h"
#include "fls/pg/migrator.h"
#include "test_database.h"

namespace fls::kms {
namespace {

using namespace std::chrono_literals;

constexpr char kService[] = "ledger";
constexpr char kCredential[] = "cafe0000-0000-4000-8000-000000000001";
constexpr char kSidecar[] = "5eed0000-0000-4000-8000-000000000001";
constexpr char kOpenSidecar[] = "5eed0000-0000-4000-8000-000000000009";

class PgKmsStoreTest : public testing::Test {
 protected:
  PgKmsStoreTest() {
    EXPECT_GE(sodium_init(), 0);
    migrate_with_retry(database_.uri(), "kms_schema_migrations", migrations::kms());
    worker_.start();
  }
  ~PgKmsStoreTest() override { worker_.stop(/*finish_queued=*/true); }

  // Runs `call` and the I/O loop until its one callback came; nullopt when it failed.
  template <class Result, class Call>
  std::optional<Result> await(Call call) {
    std::optional<Result> result;
    int callbacks = 0;
    call([&](Result r) { result = std::move(r), ++callbacks; }, [&] { ++callbacks; });
    io_.restart();
    const auto work = boost::asio::make_work_guard(io_);  // the answer comes from another thread
    for (const auto until = std::chrono::steady_clock::now() + 20s;
         callbacks == 0 && std::chrono::steady_clock::now() < until;) {
      io_.run_one_for(50ms);
    }
    EXPECT_EQ(callbacks, 1);
    return result;
  }

  NewRegistration registration(const std::string& sidecar_id, std::optional<TokenHash> token,
                               const std::string& service = kService, bool credential_required = true) {
    const auto keys = make_random_key_source()->issue();
    return NewRegistration{
        SealedKeys{sidecar_id,
                   vault_.seal(keys.row_key),
                   vault_.seal(keys.batch_secret_key),
                   std::vector<std::uint8_t>(keys.batch_public_key.begin(), keys.batch_public_key.end()),
                   {},
                   {}},
        service, token, credential_required};
  }

  // The credential, sidecar …001 registered with it, and sidecar …009 registered without one.
  void register_two_sidecars() {
    ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
      store_.create_credential(CredentialRow{kCredential, kService, "", 1, std::nullopt}, token_, done, failed);
    }));
    ASSERT_EQ(register_sidecar(registration(kSidecar, token_)).scope, kCredential);
    ASSERT_EQ(register_sidecar(registration(kOpenSidecar, std::nullopt, kService, false)).scope, kOpenScope);
  }

  RegistrationResult register_sidecar(const NewRegistration& r, RegistrationLimits limits = {100, 1000}) {
    return await<RegistrationResult>([&](auto done, auto failed) { store_.register_sidecar(r, limits, done, failed); })
        .value_or(RegistrationResult{RegistrationOutcome::too_many, {}});
  }

  test::TestDatabase database_;
  boost::asio::io_context io_;
  const KeyVault vault_{std::nullopt};
  QueryWorker worker_{database_.uri()};
  PgKmsStore store_{io_, worker_, vault_};
  const TokenHash token_ = token_hash("fls_token-of-the-ledger-credential");
};

TEST_F(PgKmsStoreTest, RegistrationsNeedAValidCredentialOfTheirServiceAndStayWithinTheLimits) {
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
    store_.create_credential(CredentialRow{kCredential, kService, "", 1, std::nullopt}, token_, done, failed);
  }));
  const auto registered = register_sidecar(registration(kSidecar, token_));
  EXPECT_EQ(registered.outcome, RegistrationOutcome::registered);
  EXPECT_EQ(registered.scope, kCredential);
  EXPECT_EQ(register_sidecar(registration(kSidecar, token_)).outcome, RegistrationOutcome::id_exists);
  EXPECT_EQ(register_sidecar(registration("5eed0000-0000-4000-8000-000000000002", token_, "treasury")).outcome,
            RegistrationOutcome::unauthorized);
  EXPECT_EQ(register_sidecar(registration("5eed0000-0000-4000-8000-000000000003", std::nullopt)).outcome,
            RegistrationOutcome::unauthorized);
  EXPECT_EQ(register_sidecar(registration("5eed0000-0000-4000-8000-000000000004", token_), {1, 1000}).outcome,
            RegistrationOutcome::too_many_for_credential);

  // A revoked credential registers nothing more.
  const auto revoked = await<std::optional<CredentialRow>>(
      [&](auto done, auto failed) { store_.revoke_credential(kCredential, done, failed); });
  ASSERT_TRUE(revoked && *revoked && (*revoked)->revoked_ms);
  EXPECT_EQ(register_sidecar(registration("5eed0000-0000-4000-8000-000000000005", token_)).outcome,
            RegistrationOutcome::unauthorized);
  const auto listed =
      await<std::vector<SidecarRow>>([&](auto done, auto failed) { store_.list_sidecars(0, 10, done, failed); });
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().status, "challenged");
}

TEST_F(PgKmsStoreTest, BatchIdsAreUniquePerScopeAlsoWithinOneCoalescedTransaction) {
  register_two_sidecars();
  // Every call is made before the loop runs, so the store takes them in as few transactions as
  // it can; each still gets its own answer, in order.
  std::vector<std::optional<bool>> answers(4);
  int callbacks = 0;
  const std::vector<NewBatch> batches{{"b0000000-0000-4000-8000-000000000001", kSidecar, kCredential, "s1"},
                                      {"b0000000-0000-4000-8000-000000000001", kSidecar, kCredential, "s1"},
                                      {"b0000000-0000-4000-8000-000000000001", kOpenSidecar, kOpenScope, "s2"},
                                      {"b0000000-0000-4000-8000-000000000002", kSidecar, kCredential, "s3"}};
  for (std::size_t i = 0; i < batches.size(); ++i) {
    store_.store_batch(
        batches[i], [&, i](bool inserted) { answers[i] = inserted, ++callbacks; }, [&] { ++callbacks; });
  }
  io_.restart();
  const auto work = boost::asio::make_work_guard(io_);
  for (const auto until = std::chrono::steady_clock::now() + 20s;
       callbacks < 4 && std::chrono::steady_clock::now() < until;) {
    io_.run_one_for(50ms);
  }
  ASSERT_EQ(callbacks, 4);
  EXPECT_EQ(answers, (std::vector<std::optional<bool>>{true, false, true, true}));
  EXPECT_EQ(database_.count("SELECT count(*) FROM kms_batches"), 3);
}

TEST_F(PgKmsStoreTest, AHealthCheckCompletesOnce) {
  register_two_sidecars();
  const std::string id = "aaaa0000-0000-4000-8000-000000000001";
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
    store_.create_healthcheck(HealthcheckRow{id, kSidecar, "ping", 5, std::nullopt}, done, failed);
  }));
  EXPECT_EQ(await<bool>([&](auto done, auto failed) {
              store_.complete_healthcheck(id, nlohmann::json{{"uptime", 1}}, done, failed);
            }),
            true);
  EXPECT_EQ(await<bool>([&](auto done, auto failed) {
              store_.complete_healthcheck(id, nlohmann::json{{"uptime", 2}}, done, failed);
            }),
            false);
  const auto found =
      await<std::optional<HealthcheckRow>>([&](auto done, auto failed) { store_.find_healthcheck(id, done, failed); });
  ASSERT_TRUE(found && *found && (*found)->response);
  EXPECT_EQ(*(*found)->response, nlohmann::json({{"uptime", 1}}));
}

TEST_F(PgKmsStoreTest, AnInquiryReportComesFromTheStoredResponses) {
  register_two_sidecars();
  const std::string inquiry = "c0de0000-0000-4000-8000-000000000001";
  const std::string sidecar = kSidecar;
  const Instant start{1767225600, 0};
  const Instant end{1767229200, 0};
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
    store_.create_inquiry(InquiryRow{inquiry, kService, start, end, 1000, {sidecar}, false}, done, failed);
  }));
  const auto read = [&](EpochMillis now) {
    return await<std::optional<InquiryReport>>(
        [&](auto done, auto failed) { store_.read_inquiry(inquiry, now, 60s, done, failed); });
  };
  auto report = read(1001);
  ASSERT_TRUE(report && *report);
  EXPECT_EQ((*report)->status, "created");

  ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
    store_.store_inquiry_response(
        inquiry, InquiryResponseRow{sidecar, "b0000000-0000-4000-8000-000000000001", "[]", 1, 1, std::nullopt}, done,
        failed);
  }));
  report = read(1002);
  ASSERT_TRUE(report && *report);
  EXPECT_EQ((*report)->status, "pending");
  ASSERT_EQ((*report)->results.size(), 1u);
  // The KMS never received that batch: not verified, and unknown.
  EXPECT_FALSE((*report)->results[0].verified);
  EXPECT_EQ((*report)->summary.unknown, std::vector<std::string>{"b0000000-0000-4000-8000-000000000001"});

  // Complete once marked so, or once the timeout has passed.
  EXPECT_EQ((*read(1000 + 60'000))->status, "complete");
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) { store_.complete_inquiry(inquiry, done, failed); }));
  EXPECT_EQ((*read(1003))->status, "complete");
  EXPECT_FALSE(*read(1004) == std::nullopt);
  const auto missing = await<std::optional<InquiryReport>>([&](auto done, auto failed) {
    store_.read_inquiry("c0de0000-0000-4000-8000-00000000000f", 1, 60s, done, failed);
  });
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_F(PgKmsStoreTest, AdminActionsAreRecordedAndListed) {
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
    store_.record_admin_action(AdminAction{0, 0, "admin", "127.0.0.1:1", "POST", "/credentials", "x", 201}, done,
                               failed);
  }));
  const auto listed =
      await<std::vector<AdminAction>>([&](auto done, auto failed) { store_.list_admin_actions(0, 10, done, failed); });
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().path, "/credentials");
  EXPECT_EQ(listed->front().status, 201u);
}

}  // namespace
}  // namespace fls::kms
