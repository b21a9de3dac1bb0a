#include "fls/kms_server/verdict.h"

#include <sodium.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "fls/common/ascii.h"
#include "fls/common/iso_time.h"
#include "fls/common/json_input.h"
#include "fls/signing/batch_signer.h"
#include "fls/signing/documents.h"
#include "fls/signing/row_signer.h"

namespace fls::kms {
namespace {

using Json = nlohmann::ordered_json;

// ---- The exact text of each array element ----
// nlohmann keeps no source positions, so element boundaries come from a second, minimal scan.
// It only ever runs over text nlohmann has already accepted as a JSON array, and stays within
// bounds whatever the text.

bool is_json_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void skip_whitespace(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && is_json_whitespace(text[pos])) ++pos;
}

// `pos` is at an opening quote; moves it past the closing one.
void skip_string(std::string_view text, std::size_t& pos) {
  ++pos;
  while (pos < text.size() && text[pos] != '"') pos += text[pos] == '\\' ? 2 : 1;
  pos = std::min(pos + 1, text.size());
}

// Moves `pos` past the JSON value starting there. Iterative, so deep nesting cannot overflow
// the stack.
void skip_value(std::string_view text, std::size_t& pos) {
  if (pos >= text.size()) return;
  if (text[pos] == '"') return skip_string(text, pos);
  if (text[pos] == '[' || text[pos] == '{') {
    std::size_t depth = 0;
    while (pos < text.size()) {
      const char c = text[pos];
      if (c == '"') {
        skip_string(text, pos);
        continue;
      }
      ++pos;
      if (c == '[' || c == '{') {
        ++depth;
      } else if ((c == ']' || c == '}') && --depth == 0) {
        return;
      }
    }
    return;
  }
  // A number, true, false or null.
  while (pos < text.size() && !is_json_whitespace(text[pos]) && text[pos] != ',' && text[pos] != ']' &&
         text[pos] != '}') {
    ++pos;
  }
}

std::vector<std::string_view> array_element_texts(std::string_view text) {
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";  // nlohmann skips a leading one
  std::size_t pos = text.substr(0, kByteOrderMark.size()) == kByteOrderMark ? kByteOrderMark.size() : 0;
  skip_whitespace(text, pos);
  ++pos;  // '['
  std::vector<std::string_view> elements;
  skip_whitespace(text, pos);
  while (pos < text.size() && text[pos] != ']') {
    const std::size_t start = pos;
    skip_value(text, pos);
    elements.push_back(text.substr(start, pos - start));
    skip_whitespace(text, pos);
    if (pos < text.size() && text[pos] == ',') ++pos;
    skip_whitespace(text, pos);
  }
  return elements;
}

// ---- Reading one element ----

const std::string* string_member(const Json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get_ptr<const Json::string_t*>() : nullptr;
}

std::optional<std::int64_t> sequence_member(const Json& row) {
  const auto it = row.find("sequence");
  if (it == row.end() || !it->is_number_integer()) return std::nullopt;
  // nlohmann reads every non-negative integer as unsigned, up to 2^64 - 1.
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return it->get<std::int64_t>();
}

struct SignedRowFields {
  std::string_view key_id;  // as written, which is what was signed
  std::int64_t sequence;
  std::string_view message;
  EpochMillis created_ms;
  std::string_view signature_hex;
};

// nullopt, with `defect` saying why, unless `element` is {"row":{…},"signature":"…"} with every
// field of the right type and a timestamp in toISOString form.
std::optional<SignedRowFields> read_signed_row(const Json& element, std::string& defect) {
  if (!element.is_object()) {
    defect = "not a JSON object";
    return std::nullopt;
  }
  const auto row = element.find("row");
  if (row == element.end() || !row->is_object()) {
    defect = "no \"row\" object";
    return std::nullopt;
  }
  const std::string* signature = string_member(element, "signature");
  if (signature == nullptr) {
    defect = "no \"signature\" string";
    return std::nullopt;
  }
  const std::string* key_id = string_member(*row, "keyId");
  const std::optional<std::int64_t> sequence = sequence_member(*row);
  const std::string* message = string_member(*row, "message");
  const std::string* timestamp = string_member(*row, "timestamp");
  if (key_id == nullptr || !sequence || message == nullptr || timestamp == nullptr) {
    defect = "\"keyId\", \"sequence\", \"message\" or \"timestamp\" is missing or of the wrong type";
    return std::nullopt;
  }
  const std::optional<Instant> instant = parse_iso_instant(*timestamp);
  // Only a timestamp that re-formats to the same text can be part of the signed bytes.
  const EpochMillis created_ms = instant ? instant->epoch_seconds * 1000 + instant->nanos / 1'000'000 : 0;
  if (!instant || format_iso_millis(created_ms) != *timestamp) {
    defect = "timestamp is not in toISOString form";
    return std::nullopt;
  }
  return SignedRowFields{*key_id, *sequence, *message, created_ms, *signature};
}

// How a problem names a row: by keyId and sequence when it has them, else by position.
std::string row_label(std::string_view key_id, std::int64_t sequence) {
  return "keyId " + ascii_lower(key_id) + " sequence " + std::to_string(sequence);
}

std::string element_label(const Json& element, std::size_t position) {
  if (element.is_object()) {
    const auto row = element.find("row");
    if (row != element.end() && row->is_object()) {
      const std::string* key_id = string_member(*row, "keyId");
      const std::optional<std::int64_t> sequence = sequence_member(*row);
      if (key_id != nullptr && sequence) return row_label(*key_id, *sequence);
    }
  }
  return "element " + std::to_string(position);
}

// One AES-CMAC signer per keyId of a body (usually one or two), looked up once.
class RowSigners {
 public:
  explicit RowSigners(KeyLookup& keys) : keys_(keys) {}

  // nullptr when no usable row key is known for `key_id` (lower case).
  RowSigner* for_key(const std::string& key_id) {
    auto [it, inserted] = signers_.try_emplace(key_id);
    if (inserted) {
      const SidecarKeys* found = keys_.find(key_id);
      if (found != nullptr && found->row_key.size() == RowSigner::kKeySize) {
        it->second = std::make_unique<RowSigner>(found->row_key);
      }
    }
    return it->second.get();
  }

 private:
  KeyLookup& keys_;
  std::unordered_map<std::string, std::unique_ptr<RowSigner>> signers_;
};

// Counts and checks every row of `body`, adding to `verdict`.
void check_rows(const std::string& body, KeyLookup& keys, ResultVerdict& verdict) {
  Json parsed;
  if (parse_external_json(body, parsed) == JsonInput::too_deep) {
    verdict.problems.push_back("body is nested more deeply than signed rows are");
    return;
  }
  if (!parsed.is_array()) {
    verdict.problems.push_back("body is not a JSON array of signed rows");
    return;
  }
  if (parsed.empty()) {
    verdict.problems.push_back("body contains no rows");
    return;
  }
  const std::vector<std::string_view> element_texts = array_element_texts(body);
  RowSigners signers(keys);
  std::string signable;
  std::string expected_signature;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    ++verdict.rows;
    const Json& element = parsed[i];
    std::string defect;
    const std::optional<SignedRowFields> row = read_signed_row(element, defect);
    if (!row) {
      verdict.problems.push_back("malformed row (" + element_label(element, i + 1) + "): " + defect);
      continue;
    }
    const std::string key_id = ascii_lower(row->key_id);
    const std::string label = row_label(key_id, row->sequence);

    RowSigner* signer = signers.for_key(key_id);
    if (signer == nullptr) {
      verdict.problems.push_back("no row key known for " + label);
      continue;
    }
    signable.clear();
    append_signable_row(signable, RowFields{row->key_id, row->sequence, row->message, row->created_ms});
    signer->sign_hex_into(signable, expected_signature);
    const std::string given_signature = ascii_lower(row->signature_hex);
    if (given_signature.size() != expected_signature.size() ||
        sodium_memcmp(given_signature.data(), expected_signature.data(), expected_signature.size()) != 0) {
      verdict.problems.push_back("row signature invalid for " + label);
      continue;
    }
    // Only now is the sequence number known to be the key's own: a forged row must not make
    // (or hide) a gap in another key's sequence.
    verdict.row_keys.emplace_back(key_id, row->sequence);
    // The MAC was checked over the rebuilt row; the element must also be exactly those bytes,
    // or key order, duplicate keys, escapes or spacing could differ from what was signed.
    const std::string canonical_batch = make_batch_data({SignedRow{signable, std::string(row->signature_hex)}});
    const std::string_view canonical_element =
        std::string_view(canonical_batch).substr(1, canonical_batch.size() - 2);  // drop [ ]
    if (i >= element_texts.size() || element_texts[i] != canonical_element) {
      verdict.problems.push_back("row for " + label + " is not written as the sidecar signs it");
      continue;
    }
    ++verdict.rows_verified;
  }
}

// nullopt when `known->signature_hex` is a valid signature of `body` under the delivering
// registration's public key, else the problem.
std::optional<std::string> batch_signature_problem(const std::string& body, const KnownBatch& known,
                                                   const std::string& sidecar_id, KeyLookup& keys) {
  const SidecarKeys* delivering = keys.find(sidecar_id);
  if (delivering == nullptr) return "no public key known for registration " + sidecar_id;
  switch (check_batch_signature(delivering->public_key, body, known.signature_hex)) {
    case SignatureCheck::valid:
      break;
    case SignatureCheck::malformed:
      return std::string("the batch signature the KMS received is not 128 hex digits");
    case SignatureCheck::invalid:
      return std::string("batch signature does not match the body");
  }
  return std::nullopt;
}

}  // namespace

ResultVerdict verify_result(const std::string& batch_id, const std::string& body, const KnownBatch* known,
                            KeyLookup& keys) {
  ResultVerdict verdict;
  try {
    verdict.batch_id = ascii_lower(batch_id);
    verdict.body = body;
    bool batch_signature_valid = false;
    if (known == nullptr) {
      verdict.problems.push_back("batch " + verdict.batch_id + " was never received by the KMS");
    } else {
      verdict.sidecar_id = ascii_lower(known->sidecar_id);
      if (auto problem = batch_signature_problem(body, *known, *verdict.sidecar_id, keys)) {
        verdict.problems.push_back(std::move(*problem));
      } else {
        batch_signature_valid = true;
      }
    }
    check_rows(body, keys, verdict);
    verdict.verified = batch_signature_valid && verdict.rows > 0 && verdict.rows_verified == verdict.rows;
  } catch (const std::exception& e) {
    // Only resource failures (memory, OpenSSL) get here; the body itself never throws.
    verdict.verified = false;
    verdict.problems.push_back(std::string("verification could not be completed: ") + e.what());
  }
  return verdict;
}

std::vector<SequenceRun> sequence_runs(std::vector<std::pair<std::string, std::int64_t>> row_keys) {
  std::sort(row_keys.begin(), row_keys.end());
  std::vector<SequenceRun> runs;
  for (auto& [key_id, sequence] : row_keys) {
    const bool continues =
        !runs.empty() && runs.back().key_id == key_id &&
        (sequence <= runs.back().last ||
         (runs.back().last < std::numeric_limits<std::int64_t>::max() && sequence == runs.back().last + 1));
    if (continues) {
      runs.back().last = std::max(runs.back().last, sequence);
    } else {
      runs.push_back(SequenceRun{std::move(key_id), sequence, sequence});
    }
  }
  return runs;
}

std::optional<std::string> AnswerProgress::add(std::int64_t total, std::int64_t item, bool has_batch) {
  if (total < 0 || total > kMaxInquiryItems) return "total " + std::to_string(total) + " is out of range";
  if (total_ >= 0 && total != total_) {
    return "total " + std::to_string(total) + " differs from the " + std::to_string(total_) + " announced before";
  }
  if (!has_batch) {
    if (total != 0 || item != 0) return "a response without a batch must have total 0 and item 0";
    if (nothing_found_) return "total 0 sent more than once";
    total_ = 0;
    nothing_found_ = true;
    return std::nullopt;
  }
  if (item < 1 || item > total) return "item " + std::to_string(item) + " is not within 1.." + std::to_string(total);
  if (!seen_.insert(item).second) return "item " + std::to_string(item) + " sent more than once";
  total_ = total;
  return std::nullopt;
}

bool AnswerProgress::complete() const {
  return nothing_found_ || (total_ > 0 && static_cast<std::int64_t>(seen_.size()) == total_);
}

}  // namespace fls::kms
