#pragma once
// The event writer's bulk path: one libpq connection and PostgreSQL's binary COPY. Binary rows
// need no escaping on our side and no parsing on the server's (a payload travels as its own
// bytes instead of twice as many hex digits, a UUID as 16 bytes), which the server, the
// writer's bottleneck, spends most of a text COPY on. libpqxx 6.4's stream_to writes text only.
#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "fls/common/clock.h"

namespace fls {

// The rows of one `COPY … FROM STDIN (FORMAT binary)`, sent to the server in chunks as they are
// written, so a large group never sits in memory twice.
class BinaryCopyWriter {
 public:
  void row(std::int16_t fields);
  void uuid(std::string_view text);  // canonical 8-4-4-4-12 form; throws if it is not one
  void int8(std::int64_t value);
  void bytes(std::string_view value);  // bytea, or text in UTF-8
  void timestamptz(EpochMillis ms);
  void null();

 private:
  friend class PqSession;
  explicit BinaryCopyWriter(PGconn* conn);
  void flush();
  void finish();
  void put_be(std::uint64_t value, int size);

  static constexpr std::size_t kChunkBytes = 256 * 1024;
  PGconn* conn_;
  std::string buffer_;
};

// One libpq connection with UTF-8 as the client encoding. Every failure throws
// std::runtime_error carrying libpq's message (which never contains the password).
class PqSession {
 public:
  explicit PqSession(const std::string& uri);
  ~PqSession();
  PqSession(const PqSession&) = delete;
  PqSession& operator=(const PqSession&) = delete;

  using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;
  // A statement with text parameters (nullptr for NULL).
  Result exec(const char* sql, std::initializer_list<const char*> params = {});
  // `COPY <target> FROM STDIN (FORMAT binary)`, where target is "table (columns)"; `write`
  // writes the rows.
  void copy_binary(const std::string& target, const std::function<void(BinaryCopyWriter&)>& write);

 private:
  PGconn* conn_;
};

}  // namespace fls
