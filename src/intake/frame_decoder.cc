#include "fls/intake/frame_decoder.h"

#include <algorithm>

namespace fls {

FrameDecoder::Status FrameDecoder::decode(std::string_view& input, std::string& payload) {
  while (header_filled_ < sizeof header_) {
    if (input.empty()) return Status::need_more;
    header_[header_filled_++] = static_cast<unsigned char>(input.front());
    input.remove_prefix(1);
    if (header_filled_ == sizeof header_) {
      length_ = (std::uint32_t{header_[0]} << 24) | (std::uint32_t{header_[1]} << 16) |
                (std::uint32_t{header_[2]} << 8) | std::uint32_t{header_[3]};
      if (length_ > max_payload_) return Status::too_large;
    }
  }
  const std::size_t wanted = length_ - partial_.size();
  const std::size_t take = std::min(wanted, input.size());
  if (partial_.empty() && take == length_) {
    // The whole payload is in this read: one copy, straight into the caller's string.
    payload.assign(input.data(), take);
  } else {
    partial_.append(input.data(), take);
  }
  input.remove_prefix(take);
  if (take < wanted) return Status::need_more;
  if (!partial_.empty()) {
    payload.swap(partial_);
    partial_.clear();
    partial_.shrink_to_fit();  // an idle connection keeps no buffer
  }
  header_filled_ = 0;
  return Status::frame;
}

}  // namespace fls
