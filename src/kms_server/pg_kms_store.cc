#include "fls/kms_server/pg_kms_store.h"

#include <boost/asio/post.hpp>

#include "fls/kms_server/inquiry_db.h"
#include "fls/kms_server/kms_db.h"
#include "fls/pg/connection_policy.h"

namespace fls::kms {

namespace asio = boost::asio;

bool master_key_opens_stored_keys(const std::string& uri, const KeyVault& vault) {
  pqxx::connection connection(with_connection_policy(uri));
  const auto keys = any_keys(connection);
  return !keys || vault.open(keys->row_key_sealed, 32).has_value();
}

std::size_t terminate_open_registrations(const std::string& uri) {
  pqxx::connection connection(with_connection_policy(uri));
  return terminate_all_open(connection);
}

template <class Result>
void PgKmsStore::run(std::string what, std::function<Result(pqxx::connection&)> job, Done<Result> done, Failed failed) {
  db_.post(what, [this, job = std::move(job), done = std::move(done),
                  failed = std::move(failed)](pqxx::connection& connection) mutable {
    try {
      Result result = job(connection);
      asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    } catch (...) {
      asio::post(io_, std::move(failed));
      throw;  // the worker logs it, with `what`
    }
  });
}

void PgKmsStore::register_sidecar(NewRegistration registration, RegistrationLimits limits,
                                  Done<RegistrationResult> done, Failed failed) {
  const std::string what = "registering sidecar " + registration.keys.sidecar_id;
  run<RegistrationResult>(
      what,
      [registration = std::move(registration), limits](pqxx::connection& c) {
        return insert_sidecar(c, registration, limits);
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::set_status(std::string sidecar_id, std::string status, Done<bool> done, Failed failed) {
  run<bool>(
      "marking sidecar " + sidecar_id + " " + status,
      [sidecar_id, status](pqxx::connection& c) {
        fls::kms::set_status(c, sidecar_id, status);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::prune_registrations(EpochMillis cutoff, Done<std::size_t> done, Failed failed) {
  run<std::size_t>(
      "pruning registrations that never delivered a batch",
      [cutoff](pqxx::connection& c) { return fls::kms::prune_registrations(c, cutoff); }, std::move(done),
      std::move(failed));
}

void PgKmsStore::list_sidecars(std::size_t offset, std::size_t limit, Done<std::vector<SidecarRow>> done,
                               Failed failed) {
  run<std::vector<SidecarRow>>(
      "listing sidecars", [offset, limit](pqxx::connection& c) { return fls::kms::list_sidecars(c, offset, limit); },
      std::move(done), std::move(failed));
}

void PgKmsStore::store_batch(NewBatch batch, Done<bool> done, Failed failed) {
  {
    std::lock_guard lock(batches_mutex_);
    pending_batches_.push_back(PendingBatch{std::move(batch), std::move(done), std::move(failed)});
    if (batches_job_queued_) return;  // the queued job takes this one too
    batches_job_queued_ = true;
  }
  db_.post("storing batches", [this](pqxx::connection& connection) { store_pending_batches(connection); });
}

void PgKmsStore::store_pending_batches(pqxx::connection& connection) {
  std::vector<PendingBatch> batches;
  {
    std::lock_guard lock(batches_mutex_);
    batches.swap(pending_batches_);
    batches_job_queued_ = false;
  }
  std::vector<NewBatch> rows;
  rows.reserve(batches.size());
  for (auto& b : batches) rows.push_back(std::move(b.row));  // the callbacks hold what they need
  try {
    auto inserted = insert_batches(connection, rows);
    asio::post(io_, [batches = std::move(batches), inserted = std::move(inserted)] {
      for (std::size_t i = 0; i < batches.size(); ++i) batches[i].done(inserted[i]);
    });
  } catch (...) {
    asio::post(io_, [batches = std::move(batches)] {
      for (const auto& b : batches) b.failed();
    });
    throw;  // the worker logs it
  }
}

void PgKmsStore::create_credential(CredentialRow row, TokenHash token_hash, Done<bool> done, Failed failed) {
  const std::string what = "creating credential " + row.credential_id;
  run<bool>(
      what,
      [row = std::move(row), token_hash](pqxx::connection& c) {
        insert_credential(c, row, token_hash);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::list_credentials(std::size_t offset, std::size_t limit, Done<std::vector<CredentialRow>> done,
                                  Failed failed) {
  run<std::vector<CredentialRow>>(
      "listing credentials",
      [offset, limit](pqxx::connection& c) { return fls::kms::list_credentials(c, offset, limit); }, std::move(done),
      std::move(failed));
}

void PgKmsStore::revoke_credential(std::string credential_id, Done<std::optional<CredentialRow>> done, Failed failed) {
  run<std::optional<CredentialRow>>(
      "revoking credential " + credential_id,
      [credential_id](pqxx::connection& c) { return fls::kms::revoke_credential(c, credential_id); }, std::move(done),
      std::move(failed));
}

void PgKmsStore::replace_credential_token(std::string credential_id, TokenHash token_hash,
                                          Done<std::optional<CredentialRow>> done, Failed failed) {
  run<std::optional<CredentialRow>>(
      "replacing the token of credential " + credential_id,
      [credential_id, token_hash](pqxx::connection& c) {
        return fls::kms::replace_credential_token(c, credential_id, token_hash);
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::create_healthcheck(HealthcheckRow row, Done<bool> done, Failed failed) {
  const std::string what = "recording health check " + row.healthcheck_id;
  run<bool>(
      what,
      [row = std::move(row)](pqxx::connection& c) {
        insert_healthcheck(c, row);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::complete_healthcheck(std::string healthcheck_id, nlohmann::json response, Done<bool> done,
                                      Failed failed) {
  run<bool>(
      "completing health check " + healthcheck_id,
      [healthcheck_id, response = std::move(response)](pqxx::connection& c) {
        return fls::kms::complete_healthcheck(c, healthcheck_id, response);
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::find_healthcheck(std::string healthcheck_id, Done<std::optional<HealthcheckRow>> done, Failed failed) {
  run<std::optional<HealthcheckRow>>(
      "reading health check " + healthcheck_id,
      [healthcheck_id](pqxx::connection& c) { return fls::kms::find_healthcheck(c, healthcheck_id); }, std::move(done),
      std::move(failed));
}

void PgKmsStore::create_inquiry(InquiryRow row, Done<bool> done, Failed failed) {
  const std::string what = "recording inquiry " + row.inquiry_id;
  run<bool>(
      what,
      [row = std::move(row)](pqxx::connection& c) {
        insert_inquiry(c, row);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::store_inquiry_response(std::string inquiry_id, InquiryResponseRow row, SenderScope sender,
                                        Done<StoredResponse> done, Failed failed) {
  lanes_.submit(InquiryResponseLanes::Job{std::move(inquiry_id), std::move(row), std::move(sender), std::move(done),
                                          std::move(failed)});
}

void PgKmsStore::complete_inquiry(std::string inquiry_id, Done<bool> done, Failed failed) {
  run<bool>(
      "completing inquiry " + inquiry_id,
      [inquiry_id](pqxx::connection& c) {
        fls::kms::complete_inquiry(c, inquiry_id);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::read_inquiry(std::string inquiry_id, EpochMillis now, std::chrono::milliseconds timeout,
                              std::size_t offset, std::size_t limit, Done<std::optional<InquiryReport>> done,
                              Failed failed) {
  run<std::optional<InquiryReport>>(
      "reading inquiry " + inquiry_id,
      [inquiry_id, now, timeout, offset, limit](pqxx::connection& c) {
        return read_inquiry_report(c, inquiry_id, now, timeout, offset, limit);
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::record_admin_action(AdminAction action, Done<bool> done, Failed failed) {
  run<bool>(
      "recording an admin action",
      [action = std::move(action)](pqxx::connection& c) {
        insert_admin_action(c, action);
        return true;
      },
      std::move(done), std::move(failed));
}

void PgKmsStore::list_admin_actions(std::size_t offset, std::size_t limit, Done<std::vector<AdminAction>> done,
                                    Failed failed) {
  run<std::vector<AdminAction>>(
      "listing admin actions",
      [offset, limit](pqxx::connection& c) { return fls::kms::list_admin_actions(c, offset, limit); }, std::move(done),
      std::move(failed));
}

}  // namespace fls::kms
