#include "fls/signing/documents.h"

#include "fls/common/iso_time.h"
#include "fls/signing/json_text.h"
#include "fls/signing/utf8.h"

namespace fls {

void append_signable_row(std::string& out, const RowFields& row) {
  out.append("{\"keyId\":");
  append_json_string(out, row.key_id);
  out.append(",\"sequence\":");
  out.append(std::to_string(row.sequence));
  out.append(",\"message\":");
  if (is_valid_utf8(row.payload)) {
    append_json_string(out, row.payload);
  } else {
    std::string decoded;
    append_utf8_decoded(decoded, row.payload);
    append_json_string(out, decoded);
  }
  out.append(",\"timestamp\":\"");
  append_iso_millis(out, row.created_ms);
  out.append("\"}");
}

std::string make_batch_data(const std::vector<SignedRow>& rows) {
  std::size_t size = 2;
  for (const auto& r : rows) size += r.row_json.size() + r.signature_hex.size() + 24;
  std::string out;
  out.reserve(size);
  out.push_back('[');
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append("{\"row\":");
    out.append(rows[i].row_json);
    out.append(",\"signature\":\"");
    out.append(rows[i].signature_hex);
    out.append("\"}");
  }
  out.push_back(']');
  return out;
}

}  // namespace fls
