#pragma once
// Answering a KMS inquiry from the store (protocol.md §4): the closed batches of every
// registration of the service created within the inquiry's window, oldest first, a page at a
// time, each with the body the KMS is sent (batch_archive.h's inquiry_body).
#include <cstddef>
#include <functional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "fls/common/iso_time.h"

namespace fls {

struct InquiryBatch {
  std::string batch_id;
  std::string body;
};

struct InquiryReadResult {
  std::size_t total = 0;  // batches in the window
  std::size_t sent = 0;   // of them, in pages the receiver took
  bool refused = false;   // the receiver refused a page (nobody listens any more)
};

class InquiryReader {
 public:
  // Items first_item, first_item + 1, … of total; with total 0, the one call for "nothing
  // found". False once nobody listens: the reading stops.
  using Pages = std::function<bool(std::size_t total, std::size_t first_item, std::vector<InquiryBatch> items)>;

  explicit InquiryReader(std::string service_name, std::size_t page_size = 64)
      : service_name_(std::move(service_name)), page_size_(page_size) {}

  // One repeatable-read, read-only transaction for the count and every page, so they agree.
  InquiryReadResult read(pqxx::connection& connection, Instant start, Instant end, const Pages& pages) const;

 private:
  std::string service_name_;
  std::size_t page_size_;
};

}  // namespace fls
