// The event writer's committer lanes against a real PostgreSQL: the next group's rows are
// written while the group before it is still uncommitted (its rows name a batch that group
// opened), yet commits, batch closes and deliveries happen strictly in order, also when the
// earlier group's commit fails and is retried, or commits but its reply is lost. Faults are
// put in by wrapping the real sessions and by a relay that cuts the connection.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "commit_reply_cutter.h"
#include "fls/common/ids.h"
#include "fls/intake/intake_queue.h"
#include "fls/pg/migration.h"
#include "fls/pg/migrator.h"
#include "fls/store/event_writer.h"
#include "fls/store/pg_event_repository.h"
#include "independent_crypto.h"
#include "test_database.h"

namespace fls {
namespace {

using namespace std::chrono_literals;

constexpr auto kWaitLimit = 20s;  // bounds the writer's drain and stop
constexpr auto kGroupWait = 5s;   // bounds a faulty session's wait for the next group

// What the wrapped sessions did, in order, with a way to wait for a step. Groups are named by
// their first event's sequence number, or by what they do if they have no events.
class Script {
 public:
  void record(std::string step) {
    {
      std::lock_guard lock(mutex_);
      steps_.push_back(std::move(step));
    }
    cv_.notify_all();
  }
  bool wait_for(const std::string& step, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return index_locked(step) >= 0; });
  }
  // Position of the first occurrence, or -1.
  int index(const std::string& step) const {
    std::lock_guard lock(mutex_);
    return index_locked(step);
  }
  std::vector<std::string> steps() const {
    std::lock_guard lock(mutex_);
    return steps_;
  }

 private:
  int index_locked(const std::string& step) const {
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i] == step) return static_cast<int>(i);
    }
    return -1;
  }
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> steps_;
};

std::string group_name(const CommitGroup& group) {
  if (!group.events.empty()) return std::to_string(group.events.front().sequence);
  return group.sidecar ? "registration" : "closing";
}

enum class Fault {
  kNone,
  kConnectionLost,   // the connection drops before COMMIT is sent: the group certainly rolled back
  kCommitReplyLost,  // COMMIT reaches the server and commits, its reply is lost: the group is in doubt
  kHeld,             // the commit waits until the test records "release", then goes on
};

// A real session whose commit of the group starting at sequence `fail_group` meets `fault`:
// held until the test records "release", or (the first time) failed once the group starting
// at `wait_for_group` has begun.
struct FaultPlan {
  Fault fault;
  std::int64_t fail_group;
  std::int64_t wait_for_group;
  test::CommitReplyCutter* cutter = nullptr;  // for kCommitReplyLost
};

class FaultySession final : public GroupSession {
 public:
  FaultySession(EventRepository& real, Script& script, const FaultPlan& plan)
      : real_(real), inner_(real.open_session()), script_(script), plan_(plan) {}

  GroupOutcome begin(const CommitGroup& group) override {
    auto outcome = inner_->begin(group);
    if (outcome.ok()) {
      const bool open = outcome.status == GroupOutcome::Status::kOpen;
      script_.record((open ? "begun " : "found committed ") + group_name(group));
    } else {
      script_.record("begin failed " + group_name(group));
    }
    return outcome;
  }
  GroupOutcome commit(const CommitGroup& group) override {
    const std::string name = group_name(group);
    script_.record("commit " + name);
    const bool chosen = name == std::to_string(plan_.fail_group);
    if (chosen && plan_.fault == Fault::kHeld) {
      script_.record("holding " + name);
      script_.wait_for("release", kGroupWait);
    } else if (chosen && plan_.fault != Fault::kNone && script_.index("failed " + name) < 0) {
      if (!script_.wait_for("begun " + std::to_string(plan_.wait_for_group), kGroupWait)) {
        script_.record("group " + std::to_string(plan_.wait_for_group) + " never began");
      }
      script_.record("failed " + name);
      if (plan_.fault == Fault::kConnectionLost) {
        inner_ = real_.open_session();  // the dropped connection takes the open transaction with it
        return GroupOutcome::failed("injected: connection lost");
      }
      plan_.cutter->arm();
      auto outcome = inner_->commit(group);  // fails: the connection ends before the reply
      if (outcome.ok()) {
        script_.record("commit reply arrived " + name);  // the cut did not happen
      } else if (!outcome.error.empty()) {
        script_.record("commit failed with its reason " + name);
      }
      return outcome;
    }
    auto outcome = inner_->commit(group);
    script_.record((outcome.status == GroupOutcome::Status::kCommitted ? "committed " : "commit failed ") + name);
    return outcome;
  }
  void check_writable() override { inner_->check_writable(); }

 private:
  EventRepository& real_;
  std::unique_ptr<GroupSession> inner_;
  Script& script_;
  const FaultPlan& plan_;
};

class FaultyRepository final : public EventRepository {
 public:
  FaultyRepository(const std::string& uri, Script& script, FaultPlan plan) : real_(uri), script_(script), plan_(plan) {}
  std::unique_ptr<GroupSession> open_session() override {
    return std::make_unique<FaultySession>(real_, script_, plan_);
  }
  std::vector<OpenBatch> open_batches() override { return real_.open_batches(); }
  std::vector<BatchRecord> unacknowledged_batches() override { return real_.unacknowledged_batches(); }

 private:
  PgEventRepository real_;
  Script& script_;
  FaultPlan plan_;
};

class RecordingSink final : public BatchSink {
 public:
  void send_after_registration(std::string, std::vector<BatchToSend> batches) override { add(batches); }
  void send(std::string, std::vector<BatchToSend> batches) override { add(batches); }
  std::vector<std::string> batch_ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  void add(const std::vector<BatchToSend>& batches) {
    std::lock_guard lock(mutex_);
    for (const auto& b : batches) ids_.push_back(b.batch_id);
  }
  mutable std::mutex mutex_;
  std::vector<std::string> ids_;
};

Registration make_registration(IdSource& ids) {
  const auto row_key = test::random_bytes(32);
  const auto pair = test::ed25519_from_seed(test::random_bytes(32));
  const auto secret = pair.secret_key();
  SecretBytes row(row_key.size());
  std::copy(row_key.begin(), row_key.end(), row.data());
  SecretBytes batch(secret.size());
  std::copy(secret.begin(), secret.end(), batch.data());
  auto signer = BatchSigner::from_secret_key(std::move(batch));
  if (!signer) throw std::logic_error("test batch key refused");
  return Registration{ids.next_uuid(), std::move(row), std::move(*signer)};
}

// An event writer on a faulty repository, with the queue it reads from.
struct WriterUnderTest {
  WriterUnderTest(const std::string& uri, Script& script, RecordingSink& sink, const FaultPlan& plan,
                  EventWriterOptions options)
      : repository(uri, script, plan), writer(repository, queue, clock, *ids, sink, std::move(options)) {}

  // Starts the writer and registers, which opens the queue.
  void start() {
    writer.start();
    writer.use_registration(make_registration(*ids));
  }
  void push(int from, int to) {
    for (int i = from; i <= to; ++i) queue.push(ReceivedMessage{"message " + std::to_string(i), clock.now_ms()});
  }

  FaultyRepository repository;
  IntakeQueue queue{1 << 20};
  SystemClock clock;
  std::unique_ptr<IdSource> ids = make_random_id_source();
  EventWriter writer;
};

// Eight messages in batches of 3 and groups of 4: group 1 holds events 1-4 (batch P closed,
// batch Q opened with event 4), group 5 holds events 5-8 (Q closed by an UPDATE, R opened),
// and the drain closes R. Group 1's first commit meets the fault only after group 5 has begun,
// so group 5's rows are written while the row of batch Q they name is not committed.
class EventWriterLanesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection conn(db_.uri());
    apply_migrations(conn, "sidecar_schema_migrations", migrations::sidecar());
  }

  void store_eight_messages(const std::string& uri, const FaultPlan& plan) {
    EventWriterOptions options;
    options.service_name = "LanesTest";
    options.batch_size = 3;
    options.max_rows_per_commit = 4;
    options.committer_lanes = 2;
    WriterUnderTest w(uri, script_, sink_, plan, options);

    // Queued before the registration opens the queue, so the writer finds all eight at once.
    w.push(1, 8);
    w.start();
    ASSERT_TRUE(w.writer.drain(std::chrono::steady_clock::now() + kWaitLimit)) << "not everything was stored";
    ASSERT_TRUE(w.writer.stop(std::chrono::steady_clock::now() + kWaitLimit));
  }

  std::string steps() const {
    std::string all;
    for (const auto& s : script_.steps()) all += s + "; ";
    return all;
  }

  // Every event once, in sequence, linked to the batch that holds it; every batch closed, each
  // delivered once, in the order they were closed.
  void expect_stored_in_order() {
    const auto events = db_.query(
        "SELECT e.sequence, convert_from(e.message, 'UTF8'), e.batch_id::text, b.data "
        "FROM events e JOIN batches b USING (batch_id) ORDER BY e.sequence");
    ASSERT_EQ(events.size(), 8u);
    std::vector<std::string> batch_of(9);
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto row = events[static_cast<pqxx::result::size_type>(i)];
      EXPECT_EQ(row[0].as<long long>(), static_cast<long long>(i + 1));
      EXPECT_EQ(row[1].as<std::string>(), "message " + std::to_string(i + 1));
      batch_of[i + 1] = row[2].as<std::string>();
      ASSERT_FALSE(row[3].is_null()) << "event " << i + 1 << "'s batch is still open";
      EXPECT_NE(row[3].as<std::string>().find("message " + std::to_string(i + 1)), std::string::npos);
    }
    EXPECT_EQ(batch_of[1], batch_of[3]);
    EXPECT_EQ(batch_of[4], batch_of[6]);  // Q: opened by group 1, closed by group 5
    EXPECT_EQ(batch_of[7], batch_of[8]);
    EXPECT_EQ(db_.count("SELECT count(*) FROM batches"), 3);
    EXPECT_EQ(sink_.batch_ids(), (std::vector<std::string>{batch_of[1], batch_of[4], batch_of[7]}));
  }

  test::TestDatabase db_;
  Script script_;
  RecordingSink sink_;
};

TEST_F(EventWriterLanesTest, AFailedCommitIsRetriedBeforeTheNextGroupWhoseRowsWereWrittenMeanwhileCommits) {
  store_eight_messages(db_.uri(), FaultPlan{Fault::kConnectionLost, 1, 5});

  ASSERT_EQ(script_.index("group 5 never began"), -1) << steps();
  ASSERT_GE(script_.index("failed 1"), 0) << steps();
  // Group 5 began before group 1 was committed, and committed only after it.
  EXPECT_LT(script_.index("committed registration"), script_.index("commit 1")) << steps();
  EXPECT_LT(script_.index("begun 5"), script_.index("committed 1")) << steps();
  EXPECT_LT(script_.index("committed 1"), script_.index("commit 5")) << steps();
  EXPECT_LT(script_.index("committed 5"), script_.index("commit closing")) << steps();
  expect_stored_in_order();
}

TEST_F(EventWriterLanesTest, ACommitWhoseReplyWasLostIsRecognisedNotRepeatedAndTheNextGroupWaitsForIt) {
  test::CommitReplyCutter cutter(db_.uri());
  store_eight_messages(cutter.uri(), FaultPlan{Fault::kCommitReplyLost, 1, 5, &cutter});

  ASSERT_TRUE(cutter.fired()) << steps();
  ASSERT_EQ(script_.index("group 5 never began"), -1) << steps();
  ASSERT_EQ(script_.index("commit reply arrived 1"), -1) << steps();
  // The lost reply came back as a failed outcome with its reason, not as an exception.
  EXPECT_GE(script_.index("commit failed with its reason 1"), 0) << steps();
  // Group 1's retry found its rows committed and wrote nothing; group 5, begun meanwhile,
  // committed only after that.
  EXPECT_LT(script_.index("begun 5"), script_.index("found committed 1")) << steps();
  EXPECT_LT(script_.index("found committed 1"), script_.index("commit 5")) << steps();
  EXPECT_LT(script_.index("committed 5"), script_.index("commit closing")) << steps();
  expect_stored_in_order();
}

TEST_F(EventWriterLanesTest, AGroupThatIsNotFullWaitsForTheDelayAndAFullOneGoesAtOnce) {
  constexpr auto kDelay = 3s;
  EventWriterOptions options;
  options.service_name = "DelayTest";
  options.max_rows_per_commit = 4;
  options.max_commit_delay = kDelay;
  WriterUnderTest w(db_.uri(), script_, sink_, FaultPlan{Fault::kNone, -1, -1}, options);
  w.start();
  ASSERT_TRUE(script_.wait_for("committed registration", kGroupWait)) << steps();

  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  const auto elapsed_ms = [&](std::chrono::steady_clock::time_point since) {
    return ms(std::chrono::steady_clock::now() - since);
  };
  // Four rows fill a group: it does not wait for the delay.
  const auto full_pushed = std::chrono::steady_clock::now();
  w.push(1, 4);
  ASSERT_TRUE(script_.wait_for("committed 1", kGroupWait)) << steps();
  EXPECT_LT(elapsed_ms(full_pushed), ms(kDelay)) << steps();

  // One row waits for the delay, with a lane free, and the rows that come meanwhile join it.
  const auto one_pushed = std::chrono::steady_clock::now();
  w.push(5, 5);
  w.push(6, 7);
  ASSERT_TRUE(script_.wait_for("committed 5", kDelay + kGroupWait)) << steps();
  EXPECT_GE(elapsed_ms(one_pushed), ms(kDelay)) << steps();
  EXPECT_EQ(script_.index("begun 6"), -1) << steps();
  EXPECT_EQ(script_.index("begun 7"), -1) << steps();

  ASSERT_TRUE(w.writer.stop(std::chrono::steady_clock::now() + kWaitLimit));
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 7);
}

// The session's answers as values, one of each: rows written (open), committed, a commit whose
// reply was lost (failed, with its reason), its retry (already committed, nothing written
// twice), and a group whose commit cannot succeed (failed, with its reason).
TEST_F(EventWriterLanesTest, ASessionAnswersEachStepWithAnOutcome) {
  test::CommitReplyCutter cutter(db_.uri());
  PgEventRepository repository(cutter.uri());
  const auto session = repository.open_session();
  const auto ids = make_random_id_source();
  const SystemClock clock;
  const std::string sidecar_id = ids->next_uuid();
  const auto group_of = [&](std::int64_t sequence, bool with_sidecar) {
    CommitGroup group;
    if (with_sidecar) group.sidecar = SidecarRecord{sidecar_id, "OutcomeTest", "test", "00", clock.now_ms()};
    const std::string batch_id = ids->next_uuid();
    group.new_batches.push_back(BatchRecord{batch_id, sidecar_id, {}, {}, 0});
    group.events.push_back(EventRecord{ids->next_uuid(), sidecar_id, batch_id, sequence,
                                       "message " + std::to_string(sequence), std::string(32, '0'), clock.now_ms()});
    return group;
  };
  using Status = GroupOutcome::Status;

  const CommitGroup first = group_of(1, true);
  EXPECT_EQ(session->begin(first).status, Status::kOpen);
  EXPECT_EQ(session->commit(first).status, Status::kCommitted);

  const CommitGroup second = group_of(2, false);
  ASSERT_EQ(session->begin(second).status, Status::kOpen);
  cutter.arm();
  const GroupOutcome lost = session->commit(second);
  ASSERT_TRUE(cutter.fired());
  EXPECT_EQ(lost.status, Status::kFailed);
  EXPECT_FALSE(lost.error.empty());
  // The server may still be finishing that COMMIT when the client sees its connection gone:
  // the retry below is meant to come after it, as the writer's comes after a backoff.
  const auto committed_by = std::chrono::steady_clock::now() + kGroupWait;
  while (db_.count("SELECT count(*) FROM events") < 2 && std::chrono::steady_clock::now() < committed_by) {
    std::this_thread::sleep_for(10ms);  // no notification for another session's commit; poll, bounded
  }
  EXPECT_EQ(session->begin(second).status, Status::kAlreadyCommitted);
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 2);

  CommitGroup closing;  // closes a batch whose row was never written
  closing.closed_batches.push_back(
      BatchRecord{ids->next_uuid(), sidecar_id, "[]", std::string(128, '0'), clock.now_ms()});
  ASSERT_EQ(session->begin(closing).status, Status::kOpen);
  const GroupOutcome missing = session->commit(closing);
  EXPECT_EQ(missing.status, Status::kFailed);
  EXPECT_NE(missing.error.find("is not in the database"), std::string::npos) << missing.error;

  const CommitGroup third = group_of(3, false);  // the session starts anew after a failure
  EXPECT_EQ(session->begin(third).status, Status::kOpen);
  EXPECT_EQ(session->commit(third).status, Status::kCommitted);
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 3);
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

TEST_F(EventWriterLanesTest, TheWriterSleepsWhileEveryLaneIsBusy) {
  // One lane, held in the commit of group 1; message 2 makes a group that cannot go. The writer
  // must wait to be woken, not poll: this process may use little CPU meanwhile.
  EventWriterOptions options;
  options.service_name = "IdleTest";
  options.committer_lanes = 1;
  WriterUnderTest w(db_.uri(), script_, sink_, FaultPlan{Fault::kHeld, 1, -1}, options);
  w.start();
  ASSERT_TRUE(script_.wait_for("committed registration", kGroupWait)) << steps();

  w.push(1, 1);
  ASSERT_TRUE(script_.wait_for("holding 1", kGroupWait)) << steps();
  w.push(2, 2);
  const double cpu_before = process_cpu_seconds();
  std::this_thread::sleep_for(1s);  // the window measured, not a synchronisation
  const double cpu_used = process_cpu_seconds() - cpu_before;
  script_.record("release");

  ASSERT_TRUE(w.writer.drain(std::chrono::steady_clock::now() + kWaitLimit));
  ASSERT_TRUE(w.writer.stop(std::chrono::steady_clock::now() + kWaitLimit));
  EXPECT_LT(cpu_used, 0.3) << "CPU seconds used in one second with every lane busy";
  EXPECT_EQ(db_.count("SELECT count(*) FROM events"), 2);
}

}  // namespace
}  // namespace fls
