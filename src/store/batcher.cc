#include "fls/store/batcher.h"

#include <spdlog/spdlog.h>

#include "fls/common/version.h"
#include "fls/signing/documents.h"

namespace fls {

Batcher::Batcher(const Clock& clock, const SteadyClock& steady, IdSource& ids, BatcherOptions options)
    : clock_(clock),
      steady_(steady),
      ids_(ids),
      options_(std::move(options)),
      batch_deadline_(steady_.now() + options_.batch_interval) {}

PendingCommit Batcher::adopt(Registration registration, UnfinishedBatches unfinished) {
  open_.reset();  // its row is in the database, open: it is among `unfinished.open`
  current_.emplace(
      Current{registration.sidecar_id, RowSigner(registration.row_key), std::move(registration.batch_signer), 1});
  const EpochMillis now = clock_.now_ms();
  CommitGroup& group = building_.group;
  group.sidecar = SidecarRecord{current_->sidecar_id, options_.service_name, kVersion,
                                current_->batch_signer.public_key_hex(), now};

  std::vector<BatchToSend> resend;
  for (auto& batch : unfinished.unacknowledged) {
    batch.sidecar_id = current_->sidecar_id;
    batch.signature = current_->batch_signer.sign_hex(batch.data);
    resend.push_back({batch.batch_id, batch.signature});
    group.resigned_batches.push_back(std::move(batch));
  }
  for (auto& open : unfinished.open) {
    BatchRecord closed{open.batch_id, current_->sidecar_id, make_batch_data(open.rows), {}, now};
    closed.signature = current_->batch_signer.sign_hex(closed.data);
    resend.push_back({closed.batch_id, closed.signature});
    group.closed_batches.push_back(std::move(closed));
  }
  if (!group.closed_batches.empty() || !group.resigned_batches.empty()) {
    spdlog::info(
        "registration {}: {} unfinished batch(es) closed and {} unacknowledged batch(es) "
        "signed again for delivery",
        current_->sidecar_id, group.closed_batches.size(), group.resigned_batches.size());
  }
  building_.registration_to_send.emplace(current_->sidecar_id, std::move(resend));
  batch_deadline_ = steady_.now() + options_.batch_interval;
  mark_building();
  return take_group();
}

std::size_t Batcher::room() const {
  const std::size_t rows = building_.group.events.size();
  return rows >= options_.max_rows_per_commit ? 0 : options_.max_rows_per_commit - rows;
}

void Batcher::add(ReceivedMessage& message) {
  mark_building();
  if (!open_) {
    open_.emplace();
    open_->batch_id = ids_.next_uuid();
    open_->rows.reserve(options_.batch_size);
    open_->group_index = building_.group.new_batches.size();
    building_.group.new_batches.push_back(BatchRecord{open_->batch_id, current_->sidecar_id, {}, {}, 0});
  }
  const std::int64_t sequence = current_->next_sequence++;
  SignedRow row;
  row.row_json.reserve(message.payload.size() + 128);
  append_signable_row(row.row_json, RowFields{current_->sidecar_id, sequence, message.payload, message.received_ms});
  current_->row_signer.sign_hex_into(row.row_json, row.signature_hex);

  building_.bytes += message.payload.size();
  building_.group.events.push_back(EventRecord{ids_.next_uuid(), current_->sidecar_id, open_->batch_id, sequence,
                                               std::move(message.payload), row.signature_hex, message.received_ms});
  open_->rows.push_back(std::move(row));
  if (open_->rows.size() >= options_.batch_size) close_open_batch();
}

void Batcher::acknowledge(std::string batch_id) {
  mark_building();
  building_.group.acknowledged.push_back(std::move(batch_id));
}

void Batcher::close_batch_if_due() {
  if (open_ && steady_.now() >= batch_deadline_) close_open_batch();
}

void Batcher::close_open_batch() {
  batch_deadline_ = steady_.now() + options_.batch_interval;
  if (!open_ || open_->rows.empty()) return;
  mark_building();
  BatchRecord closed{open_->batch_id, current_->sidecar_id, make_batch_data(open_->rows), {}, clock_.now_ms()};
  closed.signature = current_->batch_signer.sign_hex(closed.data);
  building_.to_send.push_back({closed.batch_id, closed.signature});
  if (open_->stored) {
    building_.group.closed_batches.push_back(std::move(closed));
  } else {
    building_.group.new_batches[open_->group_index] = std::move(closed);
  }
  open_.reset();
}

PendingCommit Batcher::take_group() {
  building_.sidecar_id = current_ ? current_->sidecar_id : std::string();
  if (open_) open_->stored = true;
  PendingCommit taken = std::move(building_);
  building_ = PendingCommit{};
  building_since_.reset();
  return taken;
}

}  // namespace fls
