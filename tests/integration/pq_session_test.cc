// The writer's binary COPY, read back by PostgreSQL's own text output: every byte value, UTF-8
// text, NULLs, millisecond timestamps, values larger than one chunk, and the server's errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "fls/pg/pq_session.h"
#include "test_database.h"

namespace fls {
namespace {

class PqSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.query("CREATE TABLE t (id uuid PRIMARY KEY, n bigint NOT NULL, b bytea, s text, ts timestamptz)");
  }
  test::TestDatabase db_;
};

TEST_F(PqSessionTest, BinaryCopyStoresEveryFieldExactly) {
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  const std::string large(300 * 1024, 'x');  // larger than a chunk: sent on its own
  PqSession session(db_.uri());
  session.copy_binary("t (id, n, b, s, ts)", [&](BinaryCopyWriter& out) {
    out.row(5);
    out.uuid("0F8FAD5B-D9CB-469F-A165-70867728950E");
    out.int8(-9'007'199'254'740'993);
    out.bytes(every_byte);
    out.bytes("caf\xc3\xa9 \xe2\x9c\x93 \"q\" \\ tab\there");
    out.timestamptz(1'500'041'775'123);  // 2017-07-14T14:16:15.123Z
    out.row(5);
    out.uuid("7c9e6679-7425-40de-944b-e07fc1f90ae7");
    out.int8(2);
    out.bytes(large);
    out.null();
    out.timestamptz(0);
    for (int i = 0; i < 2000; ++i) {  // several chunks of small rows
      char id[37];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
      out.row(5);
      out.uuid(id);
      out.int8(1000 + i);
      out.null();
      out.bytes(std::string(200, 'a'));
      out.timestamptz(1'700'000'000'000 + i);
    }
  });

  const auto first = db_.query(
      "SELECT id::text, n, encode(b, 'hex'), s, (extract(epoch FROM ts) * 1000)::bigint FROM t "
      "WHERE id = '0f8fad5b-d9cb-469f-a165-70867728950e'");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0][0].as<std::string>(), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(first[0][1].as<long long>(), -9'007'199'254'740'993LL);
  std::string expected_hex;
  for (int i = 0; i < 256; ++i) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", i);
    expected_hex += two;
  }
  EXPECT_EQ(first[0][2].as<std::string>(), expected_hex);
  EXPECT_EQ(first[0][3].as<std::string>(), "caf\xc3\xa9 \xe2\x9c\x93 \"q\" \\ tab\there");
  EXPECT_EQ(first[0][4].as<long long>(), 1'500'041'775'123LL);

  EXPECT_EQ(db_.count("SELECT count(*) FROM t WHERE n = 2 AND length(b) = 307200 AND s IS NULL "
                      "AND ts = timestamptz '1970-01-01 00:00:00+00'"),
            1);
  EXPECT_EQ(db_.count("SELECT count(*) FROM t WHERE n >= 1000 AND b IS NULL AND s = repeat('a', 200) "
                      "AND (extract(epoch FROM ts) * 1000)::bigint = 1700000000000 + n - 1000"),
            2000);
}

TEST_F(PqSessionTest, ServerErrorsThrowAndTheSessionStaysUsable) {
  PqSession session(db_.uri());
  auto write_duplicate_ids = [](BinaryCopyWriter& out) {
    for (int i = 0; i < 2; ++i) {
      out.row(5);
      out.uuid("7c9e6679-7425-40de-944b-e07fc1f90ae7");
      out.int8(i);
      out.null();
      out.null();
      out.null();
    }
  };
  try {
    session.copy_binary("t (id, n, b, s, ts)", write_duplicate_ids);
    FAIL() << "a duplicate key was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate key"), std::string::npos) << e.what();
  }
  EXPECT_THROW(session.exec("SELECT no_such_column FROM t"), std::runtime_error);

  const auto row = session.exec("SELECT $1::bigint + 1, $2::text IS NULL", {"41", nullptr});
  ASSERT_EQ(PQntuples(row.get()), 1);
  EXPECT_STREQ(PQgetvalue(row.get(), 0, 0), "42");
  EXPECT_STREQ(PQgetvalue(row.get(), 0, 1), "t");
  EXPECT_EQ(db_.count("SELECT count(*) FROM t"), 0);
}

TEST_F(PqSessionTest, AMalformedUuidIsRefusedBeforeItIsSentAndTheSessionStaysUsable) {
  PqSession session(db_.uri());
  for (const char* bad : {"{7c9e6679-7425-40de-944b-e07fc1f90ae7}", "7c9e6679742540de944be07fc1f90ae7",
                          "7c9e6679-7425-40de-944b-e07fc1f90ae", "7c9e6679-7425-40de-944b+e07fc1f90ae7",
                          "7c9e6679-7425-40de-944b-e07fc1f90ag7"}) {
    EXPECT_THROW(session.copy_binary("t (id, n, b, s, ts)",
                                     [&](BinaryCopyWriter& out) {
                                       out.row(5);
                                       out.uuid(bad);
                                     }),
                 std::runtime_error)
        << bad;
    const auto one = session.exec("SELECT 1");  // the failed COPY was ended
    EXPECT_STREQ(PQgetvalue(one.get(), 0, 0), "1");
  }
  EXPECT_EQ(db_.count("SELECT count(*) FROM t"), 0);
}

TEST(PqSessionConnectTest, AnUnreachableServerThrowsWithLibpqsMessage) {
  try {
    PqSession session("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2");
    FAIL() << "connected to port 1";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("127.0.0.1"), std::string::npos) << message;
    EXPECT_NE(message.back(), '\n');
  }
}

}  // namespace
}  // namespace fls
