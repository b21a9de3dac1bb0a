#pragma once
// A KmsStore in memory, for the rooms above the store: each call's callback is posted to the
// io_context, as PgKmsStore's are, so a test runs the loop to see it. Registrations, statuses,
// batches, health checks and inquiry responses behave as the database's constraints make them;
// `fail_next` makes the next call fail, as a lost database would. The admin listings are not
// needed by these tests and fail loudly if called.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fls/kms_server/kms_store.h"

namespace fls::test {

class MemoryKmsStore final : public kms::KmsStore {
 public:
  explicit MemoryKmsStore(boost::asio::io_context& io) : io_(io) {}

  // A credential that registrations of `service` may present.
  void add_credential(const std::string& credential_id, const std::string& service, const kms::TokenHash& hash) {
    credentials_[hash] = {credential_id, service};
  }
  void fail_next() { fail_next_ = true; }

  std::map<std::string, std::string> statuses;                             // sidecar id -> status
  std::set<std::pair<std::string, std::string>> batches;                   // (scope, batch id)
  std::vector<std::pair<std::string, kms::InquiryResponseRow>> responses;  // (inquiry id, row)
  std::vector<kms::SenderScope> senders;                                   // of each response
  std::map<std::string, nlohmann::json> healthcheck_responses;

  void register_sidecar(kms::NewRegistration registration, kms::RegistrationLimits, Done<kms::RegistrationResult> done,
                        Failed failed) override {
    answer(std::move(done), std::move(failed), [this, registration = std::move(registration)] {
      const std::string& id = registration.keys.sidecar_id;
      if (statuses.count(id) != 0) return kms::RegistrationResult{kms::RegistrationOutcome::id_exists, {}};
      std::string scope = kms::kOpenScope;
      if (registration.token_hash) {
        const auto it = credentials_.find(*registration.token_hash);
        if (it == credentials_.end() || it->second.second != registration.service_name) {
          return kms::RegistrationResult{kms::RegistrationOutcome::unauthorized, {}};
        }
        scope = it->second.first;
      } else if (registration.credential_required) {
        return kms::RegistrationResult{kms::RegistrationOutcome::unauthorized, {}};
      }
      statuses[id] = "challenged";
      return kms::RegistrationResult{kms::RegistrationOutcome::registered, scope};
    });
  }
  void set_status(std::string sidecar_id, std::string status, Done<bool> done, Failed failed) override {
    answer(std::move(done), std::move(failed), [this, sidecar_id, status] {
      statuses[sidecar_id] = status;
      return true;
    });
  }
  void store_batch(kms::NewBatch batch, Done<bool> done, Failed failed) override {
    answer(std::move(done), std::move(failed), [this, batch] {
      return batches.insert({batch.scope, batch.batch_id}).second;
    });
  }
  // Stored as it came; nothing is verified here (it holds no keys): a result counts as failed.
  void store_inquiry_response(std::string inquiry_id, kms::InquiryResponseRow row, kms::SenderScope sender,
                              Done<kms::StoredResponse> done, Failed failed) override {
    answer(std::move(done), std::move(failed), [this, inquiry_id, row = std::move(row), sender] {
      responses.emplace_back(inquiry_id, row);
      senders.push_back(sender);
      return kms::StoredResponse{row.batch_id && !row.problem, false};
    });
  }
  void complete_healthcheck(std::string healthcheck_id, nlohmann::json response, Done<bool> done,
                            Failed failed) override {
    answer(std::move(done), std::move(failed),
           [this, healthcheck_id, response] { return healthcheck_responses.emplace(healthcheck_id, response).second; });
  }

  void prune_registrations(EpochMillis, Done<std::size_t>, Failed failed) override { unexpected("prune", failed); }
  void list_sidecars(std::size_t, std::size_t, Done<std::vector<kms::SidecarRow>>, Failed failed) override {
    unexpected("list_sidecars", failed);
  }
  void create_credential(kms::CredentialRow, kms::TokenHash, Done<bool>, Failed failed) override {
    unexpected("create_credential", failed);
  }
  void list_credentials(std::size_t, std::size_t, Done<std::vector<kms::CredentialRow>>, Failed failed) override {
    unexpected("list_credentials", failed);
  }
  void revoke_credential(std::string, Done<std::optional<kms::CredentialRow>>, Failed failed) override {
    unexpected("revoke_credential", failed);
  }
  void replace_credential_token(std::string, kms::TokenHash, Done<std::optional<kms::CredentialRow>>,
                                Failed failed) override {
    unexpected("replace_credential_token", failed);
  }
  void create_healthcheck(kms::HealthcheckRow, Done<bool>, Failed failed) override {
    unexpected("create_healthcheck", failed);
  }
  void find_healthcheck(std::string, Done<std::optional<kms::HealthcheckRow>>, Failed failed) override {
    unexpected("find_healthcheck", failed);
  }
  void create_inquiry(kms::InquiryRow, Done<bool>, Failed failed) override { unexpected("create_inquiry", failed); }
  void complete_inquiry(std::string, Done<bool>, Failed failed) override { unexpected("complete_inquiry", failed); }
  void read_inquiry(std::string, EpochMillis, std::chrono::milliseconds, std::size_t, std::size_t,
                    Done<std::optional<kms::InquiryReport>>, Failed failed) override {
    unexpected("read_inquiry", failed);
  }
  void record_admin_action(kms::AdminAction, Done<bool>, Failed failed) override {
    unexpected("record_admin_action", failed);
  }
  void list_admin_actions(std::size_t, std::size_t, Done<std::vector<kms::AdminAction>>, Failed failed) override {
    unexpected("list_admin_actions", failed);
  }

 private:
  // Runs `change` now (the store's state is what a committed transaction leaves), and posts its
  // result, or the failure, to the loop.
  template <class Result, class Change>
  void answer(Done<Result> done, Failed failed, Change change) {
    if (fail_next_) {
      fail_next_ = false;
      boost::asio::post(io_, std::move(failed));
      return;
    }
    boost::asio::post(io_, [done = std::move(done), result = change()]() mutable { done(std::move(result)); });
  }
  void unexpected(const char* call, const Failed& failed) {
    ADD_FAILURE() << "MemoryKmsStore::" << call << " is not expected here";
    boost::asio::post(io_, failed);
  }

  boost::asio::io_context& io_;
  std::map<kms::TokenHash, std::pair<std::string, std::string>> credentials_;  // hash -> (id, service)
  bool fail_next_ = false;
};

}  // namespace fls::test
