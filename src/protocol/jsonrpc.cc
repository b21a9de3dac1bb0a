#include "fls/protocol/jsonrpc.h"

#include "fls/common/ascii.h"
#include "fls/common/json_input.h"

namespace fls::protocol {

using json = nlohmann::json;

namespace {

Invalid invalid(json id, ErrorCode code, std::string message, std::string reason) {
  return Invalid{std::move(id), Error{code, std::move(message)}, std::move(reason)};
}

}  // namespace

bool Request::is(std::string_view name) const { return ascii_iequals(method, name); }

bool Response::has_error_code(ErrorCode code) const {
  if (!is_error || !payload.is_object()) return false;
  const auto it = payload.find("code");
  return it != payload.end() && it->is_number_integer() && it->get<long long>() == static_cast<long long>(code);
}

std::string Response::describe_error() const {
  if (!payload.is_object()) return "malformed error";
  const auto code = payload.find("code");
  const auto message = payload.find("message");
  return "code " + (code != payload.end() ? code->dump() : std::string("?")) + ": " +
         (message != payload.end() && message->is_string() ? message->get<std::string>() : std::string("(no message)"));
}

Incoming parse(std::string_view text) {
  json message;
  switch (parse_external_json(text, message)) {
    case JsonInput::ok:
      break;
    case JsonInput::malformed:
      return invalid(nullptr, ErrorCode::parse_error, "Parse error",
                     "malformed JSON (" + std::to_string(text.size()) + " bytes)");
    case JsonInput::too_deep:
      return invalid(nullptr, ErrorCode::invalid_request, "Invalid Request: nested too deeply",
                     "JSON nested deeper than " + std::to_string(kMaxExternalJsonDepth) + " levels (" +
                         std::to_string(text.size()) + " bytes)");
  }
  if (!message.is_object()) {
    return invalid(nullptr, ErrorCode::invalid_request, "Invalid Request", "a JSON value that is not an object");
  }
  const auto id = message.find("id");
  const bool has_id = id != message.end();
  json id_value = has_id ? std::move(*id) : json(nullptr);
  // JSON-RPC 2.0 ids are strings, numbers or null; anything else is never echoed back.
  const bool scalar_id = !id_value.is_structured();
  if (const auto method = message.find("method"); method != message.end()) {
    if (!scalar_id) {
      return invalid(nullptr, ErrorCode::invalid_request, "Invalid Request: id must be a string, number or null",
                     "a request whose id is an array or object");
    }
    if (!method->is_string()) {
      return invalid(std::move(id_value), ErrorCode::invalid_request, "Invalid Request",
                     "a request whose method is not a string");
    }
    Request request;
    request.id = std::move(id_value);
    request.has_id = has_id;
    request.method = method->get<std::string>();
    if (const auto params = message.find("params"); params != message.end()) request.params = std::move(*params);
    return request;
  }
  const auto result = message.find("result");
  const auto error = message.find("error");
  if (result == message.end() && error == message.end()) {
    return invalid(scalar_id ? std::move(id_value) : json(nullptr), ErrorCode::invalid_request, "Invalid Request",
                   "an object that is neither a request nor a response");
  }
  // A response is never answered, whatever its id: one that matches no request is ignored.
  Response response;
  response.id = std::move(id_value);
  response.is_error = error != message.end();
  // Moved, not copied: a registration reply's keys must exist in one place only, to be wiped.
  response.payload = response.is_error ? std::move(*error) : std::move(*result);
  return response;
}

std::string dump(const OrderedJson& value) { return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace); }

std::string encode_request(const json& id, std::string_view method, OrderedJson params) {
  OrderedJson message;
  message["jsonrpc"] = "2.0";
  message["id"] = id;
  message["method"] = method;
  message["params"] = std::move(params);
  return dump(message);
}

std::string encode_result(const json& id, OrderedJson result) {
  OrderedJson message;
  message["jsonrpc"] = "2.0";
  message["id"] = id;
  message["result"] = std::move(result);
  return dump(message);
}

std::string encode_error(const json& id, const Error& error) {
  OrderedJson message;
  message["jsonrpc"] = "2.0";
  message["id"] = id;
  message["error"] = {{"code", static_cast<int>(error.code)}, {"message", error.message}};
  return dump(message);
}

}  // namespace fls::protocol
