#include "fls/store/batch_archive.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "fls/common/logging.h"
#include "fls/pg/pg_sql.h"
#include "fls/signing/batch_signer.h"

namespace fls {
namespace {

constexpr const char* kWindow =
    " FROM batches b JOIN sidecars s ON s.sidecar_id = b.sidecar_id"
    " WHERE s.service_name = $1 AND b.data IS NOT NULL"
    " AND b.created BETWEEN " FLS_SQL_FROM_MICROS("$2") " AND " FLS_SQL_FROM_MICROS("$3");

}  // namespace

std::size_t count_batches(pqxx::transaction_base& tx, const BatchWindow& window) {
  const auto row = tx.exec_params1(std::string("SELECT count(*)") + kWindow, window.service_name,
                                   window.start.micros_ceil(), window.end.micros_floor());
  return row[0].as<std::size_t>();
}

std::vector<ArchivedBatch> batches_page(pqxx::transaction_base& tx, const BatchWindow& window,
                                        const ArchivedBatch* after, std::size_t limit) {
  const std::string select = std::string("SELECT b.batch_id, b.data, " FLS_SQL_TO_MICROS(
                                 "b.created") ", b.signature, "
                                              "s.batch_public_key") +
                             kWindow;
  const auto rows =
      after == nullptr
          ? tx.exec_params(select + " ORDER BY b.created, b.batch_id LIMIT $4", window.service_name,
                           window.start.micros_ceil(), window.end.micros_floor(), limit)
          : tx.exec_params(select + " AND (b.created, b.batch_id) > (" FLS_SQL_FROM_MICROS("$4") ", $5::uuid)"
                                    " ORDER BY b.created, b.batch_id LIMIT $6",
                           window.service_name, window.start.micros_ceil(), window.end.micros_floor(),
                           after->created_us, after->batch_id, limit);
  std::vector<ArchivedBatch> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    out.push_back(
        ArchivedBatch{row[0].c_str(), row[1].c_str(), row[2].as<std::int64_t>(), row[3].c_str(), row[4].c_str()});
  }
  return out;
}

std::map<std::string, std::vector<SignedRow>> rows_from_events(pqxx::transaction_base& tx,
                                                               const std::vector<std::string>& batch_ids) {
  std::map<std::string, std::vector<SignedRow>> out;
  for (const auto& row :
       tx.exec_params("SELECT batch_id, sidecar_id, sequence, message, signature, " FLS_SQL_TO_MILLIS(
                          "created") " FROM events WHERE batch_id = ANY($1::uuid[]) ORDER BY batch_id, sequence",
                      uuid_array_literal(batch_ids))) {
    const pqxx::binarystring payload(row[3]);
    SignedRow signed_row;
    append_signable_row(signed_row.row_json,
                        RowFields{row[1].c_str(), row[2].as<std::int64_t>(),
                                  std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()),
                                  row[5].as<EpochMillis>()});
    signed_row.signature_hex = row[4].c_str();
    out[row[0].c_str()].push_back(std::move(signed_row));
  }
  return out;
}

std::string inquiry_body(const ArchivedBatch& batch, const std::vector<SignedRow>& rows_in_events) {
  std::string rebuilt = make_batch_data(rows_in_events);
  if (rebuilt == batch.data) return batch.data;
  const LogField field("batchId", batch.batch_id);
  const bool stored_data_is_signed = verify_batch_signature(batch.public_key_hex, batch.data, batch.signature);
  spdlog::error(
      "batch {}: the events table no longer matches the signed batch data; the {} was altered and is "
      "sent to the KMS as it is now",
      batch.batch_id, stored_data_is_signed ? "events table" : "batch data");
  return stored_data_is_signed ? rebuilt : batch.data;
}

}  // namespace fls
