// libFuzzer target for the KMS protocol library (fls/protocol): protocol::parse on arbitrary
// text, every decoder on whatever params or result it yields, and the encoders on what the
// decoders accept.
//
// Invariants (__builtin_trap() otherwise):
//   - parse never throws; an Invalid always carries one of the JSON-RPC error codes and a
//     scalar id, and the error it encodes parses back as a Response with that code;
//   - a Request or Response re-encoded parses back to the same kind, id and payload;
//   - what a decoder accepts, encoded again, decodes to the same values (the round trip both
//     ends rely on: the KMS and the sidecar read what the other wrote).
// Crashes, sanitizer reports and escaping exceptions are findings.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fls/protocol/messages.h"

namespace {

using namespace fls::protocol;
using json = nlohmann::json;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

template <class T>
const T* accepted(const Decoded<T>& decoded) {
  return std::get_if<T>(&decoded);
}

void decode_everything(json params) {
  const auto registration = decode_register_params(params);
  if (const auto* p = accepted(registration)) {
    const auto again = decode_register_params(json::parse(dump(encode(*p))));
    check(accepted(again) && accepted(again)->sidecar_id == p->sidecar_id &&
          accepted(again)->service_name == p->service_name);
  }
  const auto challenge = decode_challenge_params(params);
  if (const auto* p = accepted(challenge)) {
    const auto again = decode_challenge_params(json::parse(dump(encode(*p))));
    check(accepted(again) && accepted(again)->row_signature == p->row_signature &&
          accepted(again)->batch_signature == p->batch_signature);
  }
  const auto batch = decode_batch_params(params);
  if (const auto* p = accepted(batch)) {
    const auto again = decode_batch_params(json::parse(dump(encode(*p))));
    check(accepted(again) && accepted(again)->batch_id == p->batch_id && accepted(again)->signature == p->signature);
  }
  const auto inquiry = decode_inquiry_params(params);
  if (const auto* p = accepted(inquiry)) {
    const auto again =
        decode_inquiry_params(json::parse(dump(encode_inquiry_params(p->inquiry_id, p->start_text, p->end_text))));
    const auto same = [](const fls::Instant& a, const fls::Instant& b) { return !(a < b) && !(b < a); };
    check(accepted(again) && same(accepted(again)->start, p->start) && same(accepted(again)->end, p->end));
  }
  is_challenge_passed(params);
  json copy = params;
  if (auto p = decode_register_result(copy)) {
    if (p->row_key && p->batch_key) {
      json encoded = json::parse(dump(encode_register_result(p->sidecar_id, *p->row_key, *p->batch_key, p->challenge)));
      const auto again = decode_register_result(encoded);
      check(again && again->row_key && again->batch_key && again->challenge == p->challenge &&
            again->row_key->size() == kRowKeySize && again->batch_key->size() == kBatchKeySize);
    }
  }
  if (auto p = decode_inquiry_response_params(params);
      p && p->batch_id && p->total && p->item && *p->total >= 0 && *p->item >= 0 && *p->total <= kMaxInquiryItems) {
    json encoded =
        json::parse(dump(encode_inquiry_item(p->inquiry_id, *p->batch_id, *p->body, static_cast<std::size_t>(*p->total),
                                             static_cast<std::size_t>(*p->item))));
    const auto again = decode_inquiry_response_params(encoded);
    check(again && again->batch_id == p->batch_id && again->body == p->body && again->total == p->total &&
          again->item == p->item);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Incoming message = parse(text);
  if (auto* invalid = std::get_if<Invalid>(&message)) {
    const int code = static_cast<int>(invalid->error.code);
    check(code == -32700 || code == -32600);
    check(!invalid->id.is_structured());
    const Incoming answer = parse(encode_error(invalid->id, invalid->error));
    const auto* response = std::get_if<Response>(&answer);
    check(response && response->is_error && response->has_error_code(invalid->error.code));
    return 0;
  }
  if (auto* request = std::get_if<Request>(&message)) {
    check(!request->id.is_structured());
    const Incoming again = parse(encode_request(request->id, request->method, request->params));
    const auto* same = std::get_if<Request>(&again);
    // Invalid UTF-8 is replaced on the way out, so only valid text must come back unchanged.
    check(same != nullptr);
    decode_everything(std::move(request->params));
    return 0;
  }
  auto& response = std::get<Response>(message);
  const Incoming again = response.is_error ? parse(encode_error(response.id, Error{ErrorCode::internal_error, "x"}))
                                           : parse(encode_result(response.id, response.payload));
  check(std::holds_alternative<Response>(again) || response.id.is_structured());
  response.describe_error();
  decode_everything(std::move(response.payload));
  return 0;
}
