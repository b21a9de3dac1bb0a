// libFuzzer target for fls::FrameDecoder (protocol.md §1: 4-byte big-endian length, then payload).
//
// Input layout:
//   byte 0   the maximum payload size (see max_payload_for)
//   byte 1   how the stream is split into reads (see Splitter)
//   byte 2   seed for the split sizes
//   rest     the byte stream a client sends
//
// The stream is decoded three ways and the results must agree:
//   - a straightforward model of the framing (parse_model),
//   - one decoder fed the whole stream in one read,
//   - one decoder fed the stream in the reads the split pattern chooses (empty reads included).
// Invariants (a violation is __builtin_trap(), which libFuzzer reports as a crash):
//   - every frame's payload is at most the maximum;
//   - the same frames, in the same order, and the same final status: too_large at the same
//     frame with the same announced length, or need_more with the same bytes left over;
//   - need_more only when the read is used up; buffered_bytes() never exceeds 4 + maximum, and
//     at the end equals the bytes of the incomplete trailing frame.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fls/intake/frame_decoder.h"

namespace {

using fls::FrameDecoder;
using Status = FrameDecoder::Status;

#define FUZZ_CHECK(condition)           \
  do {                                  \
    if (!(condition)) __builtin_trap(); \
  } while (0)

std::size_t max_payload_for(std::uint8_t selector) {
  // Mostly small maxima, so too_large is common; a few large ones, including the 32-bit limit
  // where "4 + maximum" and the length arithmetic could overflow.
  switch (selector) {
    case 0xff:
      return std::numeric_limits<std::uint32_t>::max();
    case 0xfe:
      return std::numeric_limits<std::size_t>::max();
    case 0xfd:
      return 16u << 20;  // the sidecar's default maximum
    default:
      break;
  }
  if (selector < 0x80) return selector;       // 0 .. 127
  return std::size_t{selector & 0x7fu} * 64;  // 0 .. 8000 in steps of 64
}

// Chooses the size of each read from the pattern byte and a xorshift generator.
class Splitter {
 public:
  Splitter(std::uint8_t pattern, std::uint8_t seed)
      : pattern_(pattern), state_(0x9e3779b9u ^ (seed * 0x01000193u) ^ pattern) {
    if (state_ == 0) state_ = 1;
  }

  std::size_t next() {
    const std::uint32_t r = step();
    switch (pattern_ & 7u) {
      case 0:
        return 1;  // byte by byte
      case 1:
        return r % 4;  // tiny reads, empty ones included
      case 2:
        return r % 16;  // small reads
      case 3:
        return (r % 8 == 0) ? 0 : r % 300;  // medium reads, some empty
      case 4:
        return 3 + (r % 3);  // around the header size
      case 5:
        return (pattern_ >> 3) + 1;  // a fixed size, 1 .. 32
      case 6:
        return (r & 1) ? 1 : 4096;  // alternating tiny and large
      default:
        return r % 70000;  // large reads
    }
  }

 private:
  std::uint32_t step() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

  std::uint8_t pattern_;
  std::uint32_t state_;
};

struct Outcome {
  std::vector<std::string> frames;
  Status last = Status::need_more;  // too_large or need_more (the stream is used up)
  std::uint32_t announced = 0;      // for too_large
  std::size_t leftover = 0;         // for need_more: bytes of the incomplete trailing frame
};

// The framing, written out plainly from the protocol.
Outcome parse_model(std::string_view stream, std::size_t max_payload) {
  Outcome out;
  std::size_t pos = 0;
  while (true) {
    if (stream.size() - pos < 4) {
      out.leftover = stream.size() - pos;
      return out;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(stream.data() + pos);
    const std::uint32_t length =
        (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (length > max_payload) {
      out.last = Status::too_large;
      out.announced = length;
      return out;
    }
    if (stream.size() - pos - 4 < length) {
      out.leftover = stream.size() - pos;
      return out;
    }
    out.frames.emplace_back(stream.substr(pos + 4, length));
    pos += 4 + std::size_t{length};
  }
}

void check_buffered(const FrameDecoder& decoder, std::size_t max_payload) {
  const std::size_t buffered = decoder.buffered_bytes();
  // buffered <= 4 + max, without overflowing when max is SIZE_MAX.
  FUZZ_CHECK(buffered <= 4 || buffered - 4 <= max_payload);
}

// Feeds one read; returns false once the decoder reported too_large (the connection would close).
bool feed(FrameDecoder& decoder, std::string_view read, std::size_t max_payload, std::string& payload, Outcome& out) {
  while (true) {
    const std::size_t before = read.size();
    const Status status = decoder.decode(read, payload);
    FUZZ_CHECK(read.size() <= before);
    check_buffered(decoder, max_payload);
    switch (status) {
      case Status::frame:
        FUZZ_CHECK(payload.size() <= max_payload);
        out.frames.push_back(payload);
        break;
      case Status::need_more:
        FUZZ_CHECK(read.empty());
        out.last = Status::need_more;
        return true;
      case Status::too_large:
        FUZZ_CHECK(decoder.announced_length() > max_payload);
        out.last = Status::too_large;
        out.announced = decoder.announced_length();
        return false;
      default:
        __builtin_trap();
    }
  }
}

void check_same(const Outcome& a, const Outcome& b) {
  FUZZ_CHECK(a.frames == b.frames);
  FUZZ_CHECK(a.last == b.last);
  if (a.last == Status::too_large) FUZZ_CHECK(a.announced == b.announced);
  if (a.last == Status::need_more) FUZZ_CHECK(a.leftover == b.leftover);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t max_payload = max_payload_for(data[0]);
  Splitter splitter(data[1], data[2]);
  const std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);

  const Outcome model = parse_model(stream, max_payload);

  // All at once.
  Outcome whole;
  {
    FrameDecoder decoder(max_payload);
    std::string payload;
    if (feed(decoder, stream, max_payload, payload, whole)) whole.leftover = decoder.buffered_bytes();
  }

  // In chunks, reusing one payload string the way a connection does.
  Outcome chunked;
  {
    FrameDecoder decoder(max_payload);
    std::string payload;
    std::size_t pos = 0;
    bool open = true;
    std::size_t empty_budget = 64;  // empty reads allowed; afterwards a would-be empty read takes 1 byte
    while (open && pos < stream.size()) {
      std::size_t n = splitter.next();
      if (n == 0) {
        if (empty_budget > 0) {
          --empty_budget;
        } else {
          n = 1;
        }
      }
      if (n > stream.size() - pos) n = stream.size() - pos;
      open = feed(decoder, stream.substr(pos, n), max_payload, payload, chunked);
      pos += n;
    }
    // One more, empty read at the end: it must change nothing.
    if (open) open = feed(decoder, std::string_view(), max_payload, payload, chunked);
    if (open) {
      FUZZ_CHECK(pos == stream.size());
      chunked.leftover = decoder.buffered_bytes();
    }
  }

  check_same(model, whole);
  check_same(model, chunked);
  return 0;
}
