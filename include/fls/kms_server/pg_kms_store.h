#pragma once
// KmsStore in PostgreSQL (schema: migrations/kms): every call is one job on the query worker's
// thread, in submission order, and its callback is posted back to the I/O thread.
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <vector>

#include "fls/kms_server/inquiry_response_lanes.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_store.h"
#include "fls/pg/query_worker.h"

namespace fls::kms {

// Start-up checks, each on a connection of its own, before the store serves anyone.
// Opens one stored key with the master key, so a wrong key stops the start instead of failing
// every verification later.
bool master_key_opens_stored_keys(const std::string& uri, const KeyVault& vault);
// Marks every registration still open from a previous run terminated; returns how many.
std::size_t terminate_open_registrations(const std::string& uri);

class PgKmsStore final : public KmsStore {
 public:
  // `db` and `lanes` must be started; they outlive the store, and the store outlives their jobs.
  PgKmsStore(boost::asio::io_context& io, QueryWorker& db, InquiryResponseLanes& lanes)
      : io_(io), db_(db), lanes_(lanes) {}

  void register_sidecar(NewRegistration registration, RegistrationLimits limits, Done<RegistrationResult> done,
                        Failed failed) override;
  void set_status(std::string sidecar_id, std::string status, Done<bool> done, Failed failed) override;
  void prune_registrations(EpochMillis cutoff, Done<std::size_t> done, Failed failed) override;
  void list_sidecars(std::size_t offset, std::size_t limit, Done<std::vector<SidecarRow>> done, Failed failed) override;
  void store_batch(NewBatch batch, Done<bool> done, Failed failed) override;
  void create_credential(CredentialRow row, TokenHash token_hash, Done<bool> done, Failed failed) override;
  void list_credentials(std::size_t offset, std::size_t limit, Done<std::vector<CredentialRow>> done,
                        Failed failed) override;
  void revoke_credential(std::string credential_id, Done<std::optional<CredentialRow>> done, Failed failed) override;
  void replace_credential_token(std::string credential_id, TokenHash token_hash,
                                Done<std::optional<CredentialRow>> done, Failed failed) override;
  void create_healthcheck(HealthcheckRow row, Done<bool> done, Failed failed) override;
  void complete_healthcheck(std::string healthcheck_id, nlohmann::json response, Done<bool> done,
                            Failed failed) override;
  void find_healthcheck(std::string healthcheck_id, Done<std::optional<HealthcheckRow>> done, Failed failed) override;
  void create_inquiry(InquiryRow row, Done<bool> done, Failed failed) override;
  void store_inquiry_response(std::string inquiry_id, InquiryResponseRow row, SenderScope sender,
                              Done<StoredResponse> done, Failed failed) override;
  void complete_inquiry(std::string inquiry_id, Done<bool> done, Failed failed) override;
  void read_inquiry(std::string inquiry_id, EpochMillis now, std::chrono::milliseconds timeout, std::size_t offset,
                    std::size_t limit, Done<std::optional<InquiryReport>> done, Failed failed) override;
  void record_admin_action(AdminAction action, Done<bool> done, Failed failed) override;
  void list_admin_actions(std::size_t offset, std::size_t limit, Done<std::vector<AdminAction>> done,
                          Failed failed) override;

 private:
  // Runs `job` on the database thread, then `done` with its result on the I/O thread; if the
  // job throws, the worker logs it with `what` and `failed` runs on the I/O thread instead.
  template <class Result>
  void run(std::string what, std::function<Result(pqxx::connection&)> job, Done<Result> done, Failed failed);
  void store_pending_batches(pqxx::connection& connection);

  boost::asio::io_context& io_;
  QueryWorker& db_;
  InquiryResponseLanes& lanes_;

  // Sidecars keep many batches in flight, so every batch that arrives while one transaction
  // runs is stored by the next one, together: one commit for many batches. Shared by the I/O
  // thread (store_batch) and the database thread (the job it queues).
  struct PendingBatch {
    NewBatch row;
    Done<bool> done;
    Failed failed;
  };
  std::mutex batches_mutex_;
  std::vector<PendingBatch> pending_batches_;
  bool batches_job_queued_ = false;
};

}  // namespace fls::kms
