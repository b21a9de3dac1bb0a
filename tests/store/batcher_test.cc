// The batcher without threads or a database: messages and registrations in, commit groups out,
// time stepped by hand. Signatures are checked with independent code (independent_crypto.h).
#include "fls/store/batcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "counting_ids.h"
#include "fls/common/secret_bytes.h"
#include "independent_crypto.h"

namespace fls {
namespace {

using namespace std::chrono_literals;

class ManualSteadyClock final : public SteadyClock {
 public:
  std::chrono::steady_clock::time_point now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

class ManualClock final : public Clock {
 public:
  EpochMillis now_ms() const override { return now_ms_; }
  EpochMillis now_ms_ = 1'700'000'000'000;
};

// A registration with keys the test knows, so it can check signatures independently.
struct TestKeys {
  std::string sidecar_id;
  test::Bytes row_key = test::random_bytes(32);
  test::Ed25519Pair batch_key = test::ed25519_from_seed(test::random_bytes(32));

  Registration registration() const {
    SecretBytes row(row_key.size());
    std::copy(row_key.begin(), row_key.end(), row.data());
    const auto secret = batch_key.secret_key();
    SecretBytes batch(secret.size());
    std::copy(secret.begin(), secret.end(), batch.data());
    auto signer = BatchSigner::from_secret_key(std::move(batch));
    if (!signer) throw std::logic_error("test batch key refused");
    return Registration{sidecar_id, std::move(row), std::move(*signer)};
  }
  bool signed_batch(const BatchRecord& batch) const {
    return batch.sidecar_id == sidecar_id &&
           test::ed25519_verify(batch_key.public_key, batch.data, test::unhex(batch.signature));
  }
};

class BatcherTest : public ::testing::Test {
 protected:
  BatcherOptions options(std::size_t batch_size, std::size_t max_rows,
                         std::chrono::milliseconds max_delay = 0ms) const {
    BatcherOptions o;
    o.service_name = "BatcherTest";
    o.batch_size = batch_size;
    o.max_rows_per_commit = max_rows;
    o.batch_interval = 10s;
    o.max_commit_delay = max_delay;
    return o;
  }
  // Adds messages "message <from>" … "message <to>".
  static void add(Batcher& batcher, int from, int to) {
    for (int i = from; i <= to; ++i) {
      ReceivedMessage message{"message " + std::to_string(i), 1'700'000'000'000 + i};
      batcher.add(message);
    }
  }

  ManualClock clock_;
  ManualSteadyClock steady_;
  test::CountingIds ids_;
  TestKeys first_{"11111111-1111-4111-8111-111111111111"};
  TestKeys second_{"22222222-2222-4222-8222-222222222222"};
};

TEST_F(BatcherTest, ARegistrationsFirstGroupRecordsItAndNothingIsAcceptedBeforeIt) {
  Batcher batcher(clock_, steady_, ids_, options(64, 4));
  EXPECT_FALSE(batcher.registered());
  const PendingCommit group = batcher.adopt(first_.registration(), {});
  EXPECT_TRUE(batcher.registered());
  ASSERT_TRUE(group.group.sidecar.has_value());
  EXPECT_EQ(group.group.sidecar->sidecar_id, first_.sidecar_id);
  EXPECT_EQ(group.group.sidecar->service_name, "BatcherTest");
  EXPECT_EQ(group.group.sidecar->batch_public_key_hex, test::hex(first_.batch_key.public_key));
  EXPECT_EQ(group.group.sidecar->created_ms, clock_.now_ms_);
  ASSERT_TRUE(group.registration_to_send.has_value());
  EXPECT_EQ(group.registration_to_send->first, first_.sidecar_id);
  EXPECT_TRUE(group.registration_to_send->second.empty());
  EXPECT_TRUE(group.group.events.empty());
  EXPECT_TRUE(batcher.group_empty());
}

TEST_F(BatcherTest, GroupsHoldAtMostTheRowLimitAndSequencesRunOnAcrossThem) {
  Batcher batcher(clock_, steady_, ids_, options(64, 4));
  batcher.adopt(first_.registration(), {});
  std::vector<PendingCommit> groups;
  int next = 1;
  while (next <= 10) {
    const auto room = static_cast<int>(batcher.room());
    ASSERT_GT(room, 0);
    const int last = std::min(10, next + room - 1);
    add(batcher, next, last);
    next = last + 1;
    if (batcher.room() == 0) {
      EXPECT_TRUE(batcher.group_full());
      groups.push_back(batcher.take_group());
    } else {
      EXPECT_FALSE(batcher.group_full());
    }
  }
  groups.push_back(batcher.take_group());

  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].group.events.size(), 4u);
  EXPECT_EQ(groups[1].group.events.size(), 4u);
  EXPECT_EQ(groups[2].group.events.size(), 2u);
  std::int64_t sequence = 1;
  for (const auto& g : groups) {
    std::size_t bytes = 0;
    EXPECT_EQ(g.sidecar_id, first_.sidecar_id);
    for (const auto& e : g.group.events) {
      EXPECT_EQ(e.sequence, sequence) << "events keep the order they were added in";
      EXPECT_EQ(e.payload, "message " + std::to_string(sequence));
      EXPECT_EQ(e.sidecar_id, first_.sidecar_id);
      bytes += e.payload.size();
      ++sequence;
    }
    EXPECT_EQ(g.bytes, bytes) << "the group releases exactly the payload bytes it holds";
  }
  // All ten in one open batch, written open by the first group only.
  EXPECT_EQ(groups[0].group.new_batches.size(), 1u);
  EXPECT_TRUE(groups[1].group.new_batches.empty());
  EXPECT_EQ(groups[2].group.events.front().batch_id, groups[0].group.events.front().batch_id);
}

// Batches of 3 in groups of 4: the first group holds batch P closed and batch Q opened by its
// fourth event; the second group closes Q, whose row the first group wrote, by an update.
TEST_F(BatcherTest, BatchesCloseAtTheirSizeAndABatchOpenedByAnEarlierGroupIsClosedAsAnUpdate) {
  Batcher batcher(clock_, steady_, ids_, options(3, 4));
  batcher.adopt(first_.registration(), {});
  add(batcher, 1, 4);
  const PendingCommit one = batcher.take_group();
  ASSERT_EQ(one.group.new_batches.size(), 2u);
  const BatchRecord& p = one.group.new_batches[0];
  const BatchRecord& q_open = one.group.new_batches[1];
  EXPECT_TRUE(first_.signed_batch(p));
  EXPECT_TRUE(q_open.data.empty()) << "Q is written open";
  EXPECT_TRUE(q_open.signature.empty());
  EXPECT_TRUE(one.group.closed_batches.empty());
  ASSERT_EQ(one.to_send.size(), 1u);
  EXPECT_EQ(one.to_send[0].batch_id, p.batch_id);
  EXPECT_EQ(one.to_send[0].signature, p.signature);
  EXPECT_EQ(one.group.events[2].batch_id, p.batch_id);
  EXPECT_EQ(one.group.events[3].batch_id, q_open.batch_id);

  add(batcher, 5, 6);
  const PendingCommit two = batcher.take_group();
  EXPECT_TRUE(two.group.new_batches.empty()) << "Q's row exists: it is closed by an update";
  ASSERT_EQ(two.group.closed_batches.size(), 1u);
  const BatchRecord& q = two.group.closed_batches[0];
  EXPECT_EQ(q.batch_id, q_open.batch_id);
  EXPECT_TRUE(first_.signed_batch(q));
  EXPECT_EQ(q.created_ms, clock_.now_ms_);
  ASSERT_EQ(two.to_send.size(), 1u);
  EXPECT_EQ(two.to_send[0].batch_id, q.batch_id);

  // Q's document holds events 4-6 in order, each row signed with the row key.
  const auto document = nlohmann::ordered_json::parse(q.data);
  ASSERT_EQ(document.size(), 3u);
  std::vector<EventRecord> events{one.group.events[3], two.group.events[0], two.group.events[1]};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& row = document[i].at("row");
    EXPECT_EQ(row.at("sequence"), static_cast<std::int64_t>(4 + i));
    EXPECT_EQ(row.at("keyId"), first_.sidecar_id);
    EXPECT_EQ(test::hex(test::rfc4493_cmac(first_.row_key, row.dump())), events[i].signature);
    EXPECT_EQ(document[i].at("signature"), events[i].signature);
  }
}

TEST_F(BatcherTest, AGroupIsDueTheMaximumDelayAfterItStoppedBeingEmpty) {
  Batcher batcher(clock_, steady_, ids_, options(64, 100, 250ms));
  batcher.adopt(first_.registration(), {});
  steady_.advance(1s);
  const auto first_added = steady_.now();
  add(batcher, 1, 1);
  EXPECT_EQ(batcher.group_due(), first_added + 250ms);
  steady_.advance(200ms);
  add(batcher, 2, 3);
  EXPECT_EQ(batcher.group_due(), first_added + 250ms) << "later rows join the group, they do not delay it";
  batcher.take_group();

  steady_.advance(5s);
  batcher.acknowledge("00000000-0000-4000-8000-00000000abcd");
  EXPECT_FALSE(batcher.group_empty()) << "an acknowledgement alone makes a group";
  EXPECT_EQ(batcher.group_due(), steady_.now() + 250ms);
  const PendingCommit acks = batcher.take_group();
  EXPECT_EQ(acks.group.acknowledged, std::vector<std::string>{"00000000-0000-4000-8000-00000000abcd"});
  EXPECT_TRUE(acks.group.events.empty());
}

TEST_F(BatcherTest, TheOpenBatchClosesAtItsIntervalAndTheIntervalRestarts) {
  Batcher batcher(clock_, steady_, ids_, options(64, 100));
  batcher.adopt(first_.registration(), {});
  const auto interval_started = steady_.now();
  steady_.advance(4s);
  add(batcher, 1, 2);
  EXPECT_EQ(batcher.batch_deadline(), interval_started + 10s);
  steady_.advance(5999ms);
  batcher.close_batch_if_due();
  ASSERT_TRUE(batcher.has_open_batch()) << "closed before its interval ended";
  steady_.advance(1ms);
  batcher.close_batch_if_due();
  EXPECT_FALSE(batcher.has_open_batch());
  EXPECT_EQ(batcher.batch_deadline(), steady_.now() + 10s);
  const PendingCommit group = batcher.take_group();
  ASSERT_EQ(group.group.new_batches.size(), 1u);
  EXPECT_TRUE(first_.signed_batch(group.group.new_batches[0]));
  ASSERT_EQ(group.to_send.size(), 1u);

  add(batcher, 3, 3);
  EXPECT_NE(batcher.take_group().group.events[0].batch_id, group.group.new_batches[0].batch_id)
      << "the next event opens a new batch";
}

TEST_F(BatcherTest, ANewRegistrationClosesWhatWasLeftOpenAndSignsTheUnacknowledgedAgain) {
  Batcher batcher(clock_, steady_, ids_, options(3, 100));
  batcher.adopt(first_.registration(), {});
  add(batcher, 1, 2);
  const PendingCommit before = batcher.take_group();
  const std::string left_open = before.group.events[0].batch_id;

  // What recovery would read: batch `left_open` with its two rows, and an older closed batch
  // the KMS never confirmed.
  UnfinishedBatches unfinished;
  unfinished.unacknowledged.push_back(
      BatchRecord{"00000000-0000-4000-8000-0000000000aa", first_.sidecar_id, "[\"old document\"]", "ab", 5});
  std::vector<SignedRow> rows;
  for (const auto& e : before.group.events) {
    SignedRow row;
    append_signable_row(row.row_json, RowFields{e.sidecar_id, e.sequence, e.payload, e.created_ms});
    row.signature_hex = e.signature;
    rows.push_back(row);
  }
  unfinished.open.push_back(OpenBatch{left_open, rows});

  clock_.now_ms_ += 60'000;
  const PendingCommit group = batcher.adopt(second_.registration(), std::move(unfinished));
  ASSERT_TRUE(group.group.sidecar.has_value());
  EXPECT_EQ(group.group.sidecar->sidecar_id, second_.sidecar_id);

  ASSERT_EQ(group.group.resigned_batches.size(), 1u);
  const BatchRecord& resigned = group.group.resigned_batches[0];
  EXPECT_EQ(resigned.data, "[\"old document\"]") << "an unacknowledged batch keeps its document";
  EXPECT_TRUE(second_.signed_batch(resigned)) << "and is signed by the registration that delivers it";

  ASSERT_EQ(group.group.closed_batches.size(), 1u);
  const BatchRecord& closed = group.group.closed_batches[0];
  EXPECT_EQ(closed.batch_id, left_open);
  EXPECT_EQ(closed.data, make_batch_data(rows)) << "its rows keep their keyId and row signature";
  EXPECT_EQ(closed.created_ms, clock_.now_ms_);
  EXPECT_TRUE(second_.signed_batch(closed));
  EXPECT_TRUE(group.group.new_batches.empty());

  ASSERT_TRUE(group.registration_to_send.has_value());
  EXPECT_EQ(group.registration_to_send->first, second_.sidecar_id);
  ASSERT_EQ(group.registration_to_send->second.size(), 2u);
  EXPECT_EQ(group.registration_to_send->second[0].batch_id, resigned.batch_id);
  EXPECT_EQ(group.registration_to_send->second[0].signature, resigned.signature);
  EXPECT_EQ(group.registration_to_send->second[1].batch_id, closed.batch_id);
  EXPECT_EQ(group.registration_to_send->second[1].signature, closed.signature);

  // The new registration starts its own sequence in a batch of its own.
  add(batcher, 3, 3);
  const PendingCommit after = batcher.take_group();
  ASSERT_EQ(after.group.events.size(), 1u);
  EXPECT_EQ(after.group.events[0].sequence, 1);
  EXPECT_EQ(after.group.events[0].sidecar_id, second_.sidecar_id);
  EXPECT_NE(after.group.events[0].batch_id, left_open);
  EXPECT_EQ(after.sidecar_id, second_.sidecar_id);
  ASSERT_EQ(after.group.new_batches.size(), 1u);
  EXPECT_EQ(after.group.new_batches[0].sidecar_id, second_.sidecar_id);
  EXPECT_TRUE(after.group.closed_batches.empty());
}

}  // namespace
}  // namespace fls
