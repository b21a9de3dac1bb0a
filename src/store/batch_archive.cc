#include "fls/store/batch_archive.h"

#include <pqxx/pqxx>

namespace fls {
namespace {

// Microseconds since the epoch as timestamptz, exactly.
#define FLS_FROM_MICROS(param) "(timestamptz 'epoch' + (" param ")::bigint * interval '1 microsecond')"

constexpr const char* kWindow =
    " FROM batches b JOIN sidecars s ON s.sidecar_id = b.sidecar_id"
    " WHERE s.service_name = $1 AND b.data IS NOT NULL"
    " AND b.created BETWEEN " FLS_FROM_MICROS("$2") " AND " FLS_FROM_MICROS("$3");

}  // namespace

std::size_t count_batches(pqxx::transaction_base& tx, const BatchWindow& window) {
  const auto row = tx.exec_params1(std::string("SELECT count(*)") + kWindow, window.service_name,
                                   window.start.micros_ceil(), window.end.micros_floor());
  return row[0].as<std::size_t>();
}

std::vector<ArchivedBatch> batches_page(pqxx::transaction_base& tx, const BatchWindow& window,
                                        const ArchivedBatch* after, std::size_t limit) {
  const std::string select =
      std::string("SELECT b.batch_id, b.data, (extract(epoch FROM b.created) * 1000000)::bigint") + kWindow;
  const auto rows =
      after == nullptr
          ? tx.exec_params(select + " ORDER BY b.created, b.batch_id LIMIT $4", window.service_name,
                           window.start.micros_ceil(), window.end.micros_floor(), limit)
          : tx.exec_params(select + " AND (b.created, b.batch_id) > (" FLS_FROM_MICROS("$4") ", $5::uuid)"
                                    " ORDER BY b.created, b.batch_id LIMIT $6",
                           window.service_name, window.start.micros_ceil(), window.end.micros_floor(),
                           after->created_us, after->batch_id, limit);
  std::vector<ArchivedBatch> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    out.push_back(ArchivedBatch{row[0].c_str(), row[1].c_str(), row[2].as<std::int64_t>()});
  }
  return out;
}

}  // namespace fls
