#include "fls/pg/pq_session.h"

#include <array>
#include <optional>
#include <stdexcept>
#include <vector>

#include "fls/pg/connection_policy.h"

namespace fls {
namespace {

// The binary COPY header: signature, flags, header extension length (PostgreSQL's COPY docs).
constexpr char kCopyHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
constexpr std::size_t kCopyHeaderSize = 19;
// timestamptz travels as microseconds since 2000-01-01 00:00:00 UTC.
constexpr std::int64_t kPostgresEpochMillis = 946'684'800'000;

// The 16 bytes of a canonical 8-4-4-4-12 UUID text; false if it is not one. Three per event
// on the committer's path, where boost's string_generator (any accepted form, one character
// at a time) measured as a tenth of the sidecar's CPU.
bool parse_uuid(std::string_view text, std::array<std::uint8_t, 16>& out) {
  static constexpr std::array<std::uint8_t, 16> kDigitAt{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') return false;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = nibble(text[kDigitAt[i]]);
    const int low = nibble(text[kDigitAt[i] + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

// libpq's messages end with a newline, which the logs do not want.
std::runtime_error libpq_error(const char* message) {
  std::string text = message != nullptr ? message : "unknown libpq error";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return std::runtime_error(text);
}

}  // namespace

BinaryCopyWriter::BinaryCopyWriter(PGconn* conn) : conn_(conn) {
  buffer_.reserve(kChunkBytes + 1024);
  buffer_.append(kCopyHeader, kCopyHeaderSize);
}

void BinaryCopyWriter::put_be(std::uint64_t value, int size) {
  for (int shift = (size - 1) * 8; shift >= 0; shift -= 8) {
    buffer_.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void BinaryCopyWriter::row(std::int16_t fields) {
  if (buffer_.size() >= kChunkBytes) flush();
  put_be(static_cast<std::uint16_t>(fields), 2);
}

void BinaryCopyWriter::uuid(std::string_view text) {
  std::array<std::uint8_t, 16> id;
  if (!parse_uuid(text, id)) throw std::runtime_error("not a UUID: " + std::string(text));
  put_be(id.size(), 4);
  buffer_.append(reinterpret_cast<const char*>(id.data()), id.size());
}

void BinaryCopyWriter::int8(std::int64_t value) {
  put_be(8, 4);
  put_be(static_cast<std::uint64_t>(value), 8);
}

void BinaryCopyWriter::bytes(std::string_view value) {
  put_be(value.size(), 4);
  if (value.size() >= kChunkBytes) {  // a large value goes out directly, not through the buffer
    flush();
    if (PQputCopyData(conn_, value.data(), static_cast<int>(value.size())) != 1) {
      throw libpq_error(PQerrorMessage(conn_));
    }
    return;
  }
  buffer_.append(value);
}

void BinaryCopyWriter::timestamptz(EpochMillis ms) {
  put_be(8, 4);
  put_be(static_cast<std::uint64_t>((ms - kPostgresEpochMillis) * 1000), 8);
}

void BinaryCopyWriter::null() { put_be(0xffffffff, 4); }

void BinaryCopyWriter::flush() {
  if (buffer_.empty()) return;
  if (PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    throw libpq_error(PQerrorMessage(conn_));
  }
  buffer_.clear();
}

void BinaryCopyWriter::finish() {
  put_be(0xffff, 2);  // the trailer: a field count of -1
  flush();
}

namespace {

// The URI, with the connection policy's defaults for what it leaves unset.
PGconn* connect(const std::string& uri) {
  const std::string conninfo = with_connection_policy(uri);
  const char* const keywords[] = {"dbname", nullptr};
  const char* const values[] = {conninfo.c_str(), nullptr};
  return PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
}

}  // namespace

PqSession::PqSession(const std::string& uri) : conn_(connect(uri)) {
  if (conn_ == nullptr) throw std::runtime_error("libpq could not allocate a connection");
  // Text travels as UTF-8 whatever the server's default client encoding is.
  if (PQstatus(conn_) != CONNECTION_OK || PQsetClientEncoding(conn_, "UTF8") != 0) {
    auto error = libpq_error(PQerrorMessage(conn_));
    PQfinish(conn_);
    throw error;
  }
}

PqSession::~PqSession() { PQfinish(conn_); }

PqSession::Result PqSession::exec(const char* sql, std::initializer_list<const char*> params) {
  const std::vector<const char*> values(params);
  Result result(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
                PQclear);
  const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw libpq_error(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_));
  }
  return result;
}

void PqSession::copy_binary(const std::string& target, const std::function<void(BinaryCopyWriter&)>& write) {
  const std::string sql = "COPY " + target + " FROM STDIN (FORMAT binary)";
  {
    Result start(PQexec(conn_, sql.c_str()), PQclear);
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      throw libpq_error(start ? PQresultErrorMessage(start.get()) : PQerrorMessage(conn_));
    }
  }
  BinaryCopyWriter writer(conn_);
  try {
    write(writer);
    writer.finish();
  } catch (...) {
    // End the COPY as failed, so the connection is ready for the next statement.
    if (PQputCopyEnd(conn_, "the rows could not be encoded") == 1) {
      while (PGresult* raw = PQgetResult(conn_)) PQclear(raw);
    }
    throw;
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) throw libpq_error(PQerrorMessage(conn_));
  std::optional<std::runtime_error> error;
  while (PGresult* raw = PQgetResult(conn_)) {  // read to the end, so the connection is idle again
    Result result(raw, PQclear);
    if (PQresultStatus(raw) != PGRES_COMMAND_OK && !error) error = libpq_error(PQresultErrorMessage(raw));
  }
  if (error) throw *error;
}

}  // namespace fls
