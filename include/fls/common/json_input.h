#pragma once
// Parsing JSON that comes from outside the process (the KMS WebSocket on either side, the admin
// API's bodies, inquiry-response bodies). nlohmann::json copies, compares and serialises values
// recursively, so a value nested deeper than the stack allows would crash the process the first
// time it is copied: such input is refused before it is parsed.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

namespace fls {

// Deeper than any message of the KMS protocol or admin API by far (they nest 4 levels at most),
// and shallow enough for every recursive operation on the parsed value.
inline constexpr std::size_t kMaxExternalJsonDepth = 64;

enum class JsonInput {
  ok,
  malformed,  // not JSON
  too_deep,   // arrays and objects nested deeper than the limit
};

// How deeply arrays and objects nest in `text`, counted without recursion; strings (escapes
// included) are skipped, so brackets inside them do not count. Stops counting once past `limit`
// and then returns limit + 1. Meaningful for valid JSON; for other text it is a bound that the
// parser's verdict then overrides.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit);

// Parses `text` into `out` unless it is malformed or nested deeper than `max_depth`; on any
// failure `out` is left discarded. Never throws for any input.
template <class Json>
JsonInput parse_external_json(std::string_view text, Json& out, std::size_t max_depth = kMaxExternalJsonDepth) {
  out = Json(Json::value_t::discarded);
  if (json_nesting_depth(text, max_depth) > max_depth) return JsonInput::too_deep;
  out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return out.is_discarded() ? JsonInput::malformed : JsonInput::ok;
}

}  // namespace fls
