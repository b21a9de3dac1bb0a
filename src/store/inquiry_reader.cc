#include "fls/store/inquiry_reader.h"

#include <optional>
#include <pqxx/pqxx>

#include "fls/store/batch_archive.h"

namespace fls {

InquiryReadResult InquiryReader::read(pqxx::connection& connection, Instant start, Instant end,
                                      const Pages& pages) const {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(connection);
  const BatchWindow window{service_name_, start, end};
  InquiryReadResult result;
  result.total = count_batches(tx, window);
  if (result.total == 0) {
    result.refused = !pages(0, 0, {});
    return result;
  }
  std::optional<ArchivedBatch> last;
  for (;;) {
    auto page = batches_page(tx, window, last ? &*last : nullptr, page_size_);
    if (page.empty()) break;
    last = ArchivedBatch{page.back().batch_id, {}, page.back().created_us, {}, {}};
    std::vector<std::string> ids;
    for (const auto& batch : page) ids.push_back(batch.batch_id);
    const auto rows = rows_from_events(tx, ids);
    std::vector<InquiryBatch> items;
    items.reserve(page.size());
    for (auto& batch : page) {
      const auto batch_rows = rows.find(batch.batch_id);
      std::string body = inquiry_body(batch, batch_rows == rows.end() ? std::vector<SignedRow>{} : batch_rows->second);
      items.push_back(InquiryBatch{std::move(batch.batch_id), std::move(body)});
    }
    const std::size_t count = items.size();
    if (!pages(result.total, result.sent + 1, std::move(items))) {
      result.refused = true;
      return result;
    }
    result.sent += count;
  }
  return result;
}

}  // namespace fls
