#pragma once
// The client framing of protocol.md §1: a 4-byte big-endian length, then that many bytes.
// A pure function of the bytes fed in, so it can be tested and fuzzed without sockets.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fls {

class FrameDecoder {
 public:
  enum class Status {
    frame,      // `payload` holds one whole frame's payload
    need_more,  // `input` is used up without completing a frame
    too_large,  // the announced length exceeds the maximum; the connection must be closed
  };

  explicit FrameDecoder(std::size_t max_payload) : max_payload_(max_payload) {}

  // Consumes bytes from the front of `input` until one frame is complete, `input` is empty,
  // or a length over the maximum is announced. A partial frame is kept inside the decoder,
  // and grows only as its bytes arrive, so an announced length costs nothing by itself.
  Status decode(std::string_view& input, std::string& payload);

  // The length announced by the frame that failed with too_large.
  std::uint32_t announced_length() const { return length_; }
  // Bytes held for the frame in progress (header included).
  std::size_t buffered_bytes() const { return header_filled_ + partial_.size(); }
  // The most bytes that can be fed without starting the next frame: the rest of the header
  // while it is incomplete (the length is not known yet), else the rest of the payload.
  std::size_t bytes_to_frame_end() const {
    return header_filled_ < sizeof header_ ? sizeof header_ - header_filled_ : length_ - partial_.size();
  }

 private:
  std::size_t max_payload_;
  unsigned char header_[4] = {};
  std::size_t header_filled_ = 0;
  std::uint32_t length_ = 0;
  std::string partial_;
};

}  // namespace fls
