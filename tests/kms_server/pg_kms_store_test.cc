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
#include <cstdio>
#include <limits>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "fls/kms_server/inquiry_db.h"
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
    lanes_.start();
  }
  ~PgKmsStoreTest() override {
    lanes_.stop();
    worker_.stop(/*finish_queued=*/true);
  }

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
  InquiryResponseLanes lanes_{io_, database_.uri(), 2, vault_};
  PgKmsStore store_{io_, worker_, lanes_};
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

// The responses of one inquiry to sidecar kSidecar, and what reading its verdict gives.
class PgKmsStoreInquiryTest : public PgKmsStoreTest {
 protected:
  static constexpr const char* kInquiry = "c0de0000-0000-4000-8000-000000000001";
  static constexpr const char* kOther = "5eed0000-0000-4000-8000-000000000002";

  void create(std::vector<std::string> asked) {
    register_two_sidecars();
    ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
      store_.create_inquiry(
          InquiryRow{kInquiry, kService, Instant{1767225600, 0}, Instant{1767229200, 0}, 1000, std::move(asked), false},
          done, failed);
    }));
  }

  std::optional<StoredResponse> respond(const std::string& sidecar, std::optional<std::string> batch,
                                        std::int64_t total, std::int64_t item,
                                        std::optional<std::string> problem = std::nullopt) {
    InquiryResponseRow row{sidecar, std::move(batch), "[]", total, item, std::move(problem), ++arrivals_};
    return await<StoredResponse>([&](auto done, auto failed) {
      store_.store_inquiry_response(kInquiry, row, SenderScope{kCredential, kService}, done, failed);
    });
  }

  InquiryReport read(EpochMillis now = 1001, std::size_t offset = 0, std::size_t limit = 100) {
    const auto report = await<std::optional<InquiryReport>>(
        [&](auto done, auto failed) { store_.read_inquiry(kInquiry, now, 60s, offset, limit, done, failed); });
    EXPECT_TRUE(report && *report);
    return report && *report ? **report : InquiryReport{};
  }

  static std::string batch(int n) {
    char id[37];
    std::snprintf(id, sizeof id, "b0000000-0000-4000-8000-%012d", n);
    return id;
  }

  std::int64_t arrivals_ = 0;
};

TEST_F(PgKmsStoreInquiryTest, CreatedUntilTheFirstResponsePendingUntilCompleteOrTimedOut) {
  create({kSidecar});
  EXPECT_EQ(read().status, "created");
  const auto stored = respond(kSidecar, batch(1), 1, 1);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->result);
  auto report = read();
  EXPECT_EQ(report.status, "pending");
  ASSERT_EQ(report.results.size(), 1u);
  // The KMS never received that batch: not verified, and unknown.
  EXPECT_FALSE(report.results[0].verified);
  EXPECT_FALSE(stored->verified);
  EXPECT_EQ(report.summary.unknown, std::vector<std::string>{batch(1)});
  EXPECT_EQ(report.progress.results_failed, 1);

  EXPECT_EQ(read(1000 + 60'000).status, "complete");
  ASSERT_TRUE(await<bool>([&](auto done, auto failed) { store_.complete_inquiry(kInquiry, done, failed); }));
  EXPECT_EQ(read(1003).status, "complete");
  const auto missing = await<std::optional<InquiryReport>>([&](auto done, auto failed) {
    store_.read_inquiry("c0de0000-0000-4000-8000-00000000000f", 1, 60s, 0, 100, done, failed);
  });
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_F(PgKmsStoreInquiryTest, TotalsAreSummedOverSidecarsAndAnAnswerNotWholeLeavesItsSidecarUnanswered) {
  create({kSidecar, kOther, kOpenSidecar});
  respond(kSidecar, batch(1), 2, 1);
  respond(kSidecar, batch(2), 2, 2);
  respond(kOther, batch(3), 3, 1);
  respond(kOpenSidecar, std::nullopt, 0, 0);  // nothing found: a whole answer
  const auto report = read();
  EXPECT_EQ(report.total, 5);
  EXPECT_EQ(report.completed, 3);
  EXPECT_EQ(report.progress.responses, 4);
  EXPECT_EQ(report.summary.unanswered, std::vector<std::string>{kOther});
  ASSERT_EQ(report.results.size(), 3u);
  EXPECT_EQ(report.results[2].answered_by, kOther);
}

TEST_F(PgKmsStoreInquiryTest, SenderProblemsAreNotResultsButSpoilTheVerdict) {
  create({kSidecar});
  respond(kSidecar, batch(1), 1, 1);
  const auto repeated = respond(kSidecar, batch(1), 1, 1, "item 1 sent more than once");
  ASSERT_TRUE(repeated);
  EXPECT_FALSE(repeated->result);
  const auto report = read();
  EXPECT_EQ(report.completed, 1);
  ASSERT_EQ(report.sender_problems.size(), 1u);
  EXPECT_EQ(report.sender_problems[0].problem, "item 1 sent more than once");
  EXPECT_EQ(report.sender_problems[0].batch_id, batch(1));
  EXPECT_FALSE(report.summary.verified);
}

TEST_F(PgKmsStoreInquiryTest, ResultsComePageByPageInOrderOfArrival) {
  create({kSidecar});
  for (int i = 1; i <= 5; ++i) respond(kSidecar, batch(10 - i), 5, i);
  auto page = read(1001, 1, 2);
  ASSERT_EQ(page.results.size(), 2u);
  EXPECT_EQ(page.results[0].batch_id, batch(8));
  EXPECT_EQ(page.results[1].batch_id, batch(7));
  EXPECT_TRUE(page.more_results);
  EXPECT_EQ(page.completed, 5);  // counts are over every result, whatever the page
  EXPECT_EQ(page.summary.unknown.size(), 5u);
  page = read(1001, 4, 2);
  ASSERT_EQ(page.results.size(), 1u);
  EXPECT_EQ(page.results[0].batch_id, batch(5));
  EXPECT_FALSE(page.more_results);
  EXPECT_TRUE(read(1001, 5, 2).results.empty());
}

TEST_F(PgKmsStoreInquiryTest, GapsComeFromTheSequenceRunsOfVerifiedRows) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  create({kSidecar});
  const auto with_rows = [](int n, std::vector<std::pair<std::string, std::int64_t>> row_keys) {
    VerifiedResponse response{kInquiry, InquiryResponseRow{kSidecar, batch(n), "[]", 3, n, std::nullopt, n}, {}};
    response.verdict.emplace();
    response.verdict->batch_id = batch(n);
    response.verdict->row_keys = std::move(row_keys);
    return response;
  };
  pqxx::connection connection(database_.uri());
  insert_inquiry_responses(connection, {with_rows(1, {{"k", 1}, {"k", 2}, {"k", 3}, {"k", 7}}),
                                        with_rows(2, {{"k", 5}, {"j", 10}, {"j", 12}}),
                                        with_rows(3, {{"k", 2}, {"k", 3}, {"x", kMax}, {"x", kMin}, {"x", kMax - 1}})});
  const auto report = read();
  ASSERT_EQ(report.summary.gaps.size(), 4u);
  EXPECT_EQ(report.summary.gaps[0].key_id, "j");
  EXPECT_EQ(report.summary.gaps[0].after, 10);
  EXPECT_EQ(report.summary.gaps[0].before, 12);
  EXPECT_EQ(report.summary.gaps[1].key_id, "k");
  EXPECT_EQ(report.summary.gaps[1].after, 3);
  EXPECT_EQ(report.summary.gaps[1].before, 5);
  EXPECT_EQ(report.summary.gaps[2].after, 5);
  EXPECT_EQ(report.summary.gaps[2].before, 7);
  // At the ends of bigint, without overflow.
  EXPECT_EQ(report.summary.gaps[3].key_id, "x");
  EXPECT_EQ(report.summary.gaps[3].after, kMin);
  EXPECT_EQ(report.summary.gaps[3].before, kMax - 1);
}

TEST_F(PgKmsStoreInquiryTest, MissingAreTheWindowsBatchesNoResultReturned) {
  create({kSidecar});
  for (int n : {1, 2}) {
    ASSERT_TRUE(await<bool>([&](auto done, auto failed) {
      store_.store_batch(NewBatch{batch(n), kSidecar, kCredential, std::string(128, 'a')}, done, failed);
    }));
  }
  // Received now, so inside a window around now.
  pqxx::connection connection(database_.uri());
  {
    pqxx::work tx(connection);
    tx.exec("UPDATE kms_inquiries SET start_time = now() - interval '1 hour', end_time = now() + interval '1 hour'");
    tx.commit();
  }
  respond(kSidecar, batch(2), 1, 1);
  const auto report = read();
  EXPECT_EQ(report.summary.missing, std::vector<std::string>{batch(1)});
  EXPECT_TRUE(report.summary.unknown.empty());  // batch 2 was received, in the sender's scope
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].sidecar_id, std::optional<std::string>(kSidecar));
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
