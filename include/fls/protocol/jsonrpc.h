#pragma once
// The JSON-RPC 2.0 envelope of the KMS connection (protocol.md §4), spoken by both ends: the
// sidecar's KMS client and fls-kms. One text frame carries one message; parse() sorts it into
// a request, a response, or something to answer with an error, and the encode functions write
// the exact bytes both ends have always sent.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace fls::protocol {

// Every error code either end sends on the socket.
enum class ErrorCode : int {
  parse_error = -32700,
  invalid_request = -32600,
  method_not_found = -32601,
  invalid_params = -32602,
  internal_error = -32603,
  batch_exists = 120,               // the KMS already holds that batch id
  sidecar_exists = 40001,           // register with an id the KMS has seen
  bad_batch_signature = 40004,      // challenge: checked first
  bad_row_signature = 40005,        // challenge
  too_many_for_credential = 40006,  // register: the credential's open registrations are at the limit
  too_many_registrations = 40007,   // register: the KMS's open registrations are at the limit
  registration_refused = 40100,     // register: no valid credential for the service
};

// What a handler answers with when a request cannot be served.
struct Error {
  ErrorCode code;
  std::string message;
};

struct Request {
  nlohmann::json id;  // a string, a number, or null (also when absent: see has_id)
  bool has_id = false;
  std::string method;     // as sent
  nlohmann::json params;  // null when absent
  // Method names are compared case-insensitively (protocol.md §4).
  bool is(std::string_view name) const;
};

struct Response {
  nlohmann::json id;
  bool is_error = false;
  nlohmann::json payload;  // the "result", or the "error" object
  // The request id when it is a string; replies to anything else match no request.
  const std::string* id_text() const { return id.is_string() ? id.get_ptr<const std::string*>() : nullptr; }
  bool has_error_code(ErrorCode code) const;
  // "code N: message", for logs.
  std::string describe_error() const;
};

// A message that gets an error back: `id` is what the reply carries (null when the message had
// none that may be echoed), `reason` says what was wrong, for the log.
struct Invalid {
  nlohmann::json id;
  Error error;
  std::string reason;
};

using Incoming = std::variant<Request, Response, Invalid>;

// Never throws. JSON nested deeper than fls/common/json_input.h allows is refused unparsed.
Incoming parse(std::string_view text);

using OrderedJson = nlohmann::ordered_json;

std::string encode_request(const nlohmann::json& id, std::string_view method, OrderedJson params);
std::string encode_result(const nlohmann::json& id, OrderedJson result);
std::string encode_error(const nlohmann::json& id, const Error& error);

// The one way JSON leaves either end: compact, invalid UTF-8 replaced rather than thrown on.
std::string dump(const OrderedJson& value);

}  // namespace fls::protocol
