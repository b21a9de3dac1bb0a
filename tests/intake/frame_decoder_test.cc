// The client framing of protocol.md §1: 4-byte big-endian length, then that many bytes.
#include "fls/intake/frame_decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fls {
namespace {

using Status = FrameDecoder::Status;

constexpr std::size_t kMax = 1024;

std::string header(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>(length >> 16), static_cast<char>(length >> 8),
          static_cast<char>(length)};
}

std::string frame(std::string_view payload) {
  return header(static_cast<std::uint32_t>(payload.size())) + std::string(payload);
}

// Feeds one read to the decoder and collects every frame it completes; stops at too_large.
struct Feed {
  std::vector<std::string> frames;
  Status last = Status::need_more;
};

Feed feed(FrameDecoder& decoder, std::string_view read) {
  Feed out;
  std::string payload;
  while (true) {
    out.last = decoder.decode(read, payload);
    if (out.last != Status::frame) break;
    out.frames.push_back(payload);
  }
  return out;
}

TEST(FrameDecoder, HeaderIsBigEndian) {
  FrameDecoder decoder(kMax);
  // 0x00000102 = 258 bytes: a little-endian reading would announce 0x02010000 and fail.
  const std::string payload(258, 'x');
  const auto result = feed(decoder, header(258) + payload);
  ASSERT_EQ(result.frames.size(), 1u);
  EXPECT_EQ(result.frames[0], payload);
  EXPECT_EQ(result.last, Status::need_more);
}

TEST(FrameDecoder, FrameSplitIntoSingleByteReadsIncludingTheHeader) {
  FrameDecoder decoder(kMax);
  const std::string bytes = frame("hello, sidecar");
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto result = feed(decoder, std::string_view(bytes).substr(i, 1));
    frames.insert(frames.end(), result.frames.begin(), result.frames.end());
    // Nothing may come out before the last byte arrives.
    if (i + 1 < bytes.size()) {
      EXPECT_TRUE(frames.empty()) << "after byte " << i;
    }
  }
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], "hello, sidecar");
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, SeveralFramesInOneRead) {
  FrameDecoder decoder(kMax);
  const auto result = feed(decoder, frame("one") + frame("two") + frame("three"));
  EXPECT_EQ(result.frames, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(result.last, Status::need_more);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, ReadEndingInsideTheNextHeaderKeepsThePartialHeader) {
  FrameDecoder decoder(kMax);
  const std::string second = frame("second");
  const auto first = feed(decoder, frame("first") + second.substr(0, 2));
  EXPECT_EQ(first.frames, (std::vector<std::string>{"first"}));
  EXPECT_EQ(decoder.buffered_bytes(), 2u);
  const auto rest = feed(decoder, second.substr(2));
  EXPECT_EQ(rest.frames, (std::vector<std::string>{"second"}));
}

TEST(FrameDecoder, DecodeStopsAfterEachFrameLeavingTheRestOfTheRead) {
  FrameDecoder decoder(kMax);
  const std::string bytes = frame("a") + frame("bc");
  std::string_view input = bytes;
  std::string payload;
  ASSERT_EQ(decoder.decode(input, payload), Status::frame);
  EXPECT_EQ(payload, "a");
  EXPECT_EQ(input, frame("bc"));
  ASSERT_EQ(decoder.decode(input, payload), Status::frame);
  EXPECT_EQ(payload, "bc");
  EXPECT_TRUE(input.empty());
  EXPECT_EQ(decoder.decode(input, payload), Status::need_more);
}

TEST(FrameDecoder, ZeroLengthFrameIsValidWithEmptyPayload) {
  FrameDecoder decoder(kMax);
  const std::string bytes = frame("") + frame("") + frame("after");
  std::string_view input = bytes;
  std::string payload = "left over from an earlier frame";
  ASSERT_EQ(decoder.decode(input, payload), Status::frame);
  EXPECT_EQ(payload, "");
  const auto rest = feed(decoder, input);
  EXPECT_EQ(rest.frames, (std::vector<std::string>{"", "after"}));
}

TEST(FrameDecoder, ZeroLengthFrameAloneInARead) {
  FrameDecoder decoder(kMax);
  const auto result = feed(decoder, header(0));
  EXPECT_EQ(result.frames, (std::vector<std::string>{""}));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, FrameExactlyAtTheMaximumIsAccepted) {
  FrameDecoder decoder(kMax);
  const std::string payload(kMax, 'm');
  const auto result = feed(decoder, frame(payload));
  ASSERT_EQ(result.frames.size(), 1u);
  EXPECT_EQ(result.frames[0], payload);
  EXPECT_EQ(result.last, Status::need_more);
}

TEST(FrameDecoder, OneByteOverTheMaximumIsTooLarge) {
  FrameDecoder decoder(kMax);
  const auto result = feed(decoder, frame(std::string(kMax + 1, 'm')));
  EXPECT_TRUE(result.frames.empty());
  EXPECT_EQ(result.last, Status::too_large);
  EXPECT_EQ(decoder.announced_length(), kMax + 1);
}

TEST(FrameDecoder, HugeAnnouncedLengthIsRejectedBeforeAnyPayloadIsBuffered) {
  FrameDecoder decoder(kMax);
  const std::string bytes = header(0xFFFFFFFFu) + "some payload bytes";
  std::string_view input = bytes;
  std::string payload;
  EXPECT_EQ(decoder.decode(input, payload), Status::too_large);
  EXPECT_EQ(decoder.announced_length(), 0xFFFFFFFFu);
  // Only the header was consumed: the payload bytes were neither read nor kept.
  EXPECT_EQ(input, "some payload bytes");
  EXPECT_EQ(decoder.buffered_bytes(), 4u);
  EXPECT_TRUE(payload.empty());
}

TEST(FrameDecoder, AnnouncedLengthReadsAllFourBytesBigEndian) {
  FrameDecoder decoder(kMax);
  std::string_view input = "\x01\x02\x03\x04";
  std::string payload;
  EXPECT_EQ(decoder.decode(input, payload), Status::too_large);
  EXPECT_EQ(decoder.announced_length(), 0x01020304u);
}

TEST(FrameDecoder, TooLargeIsReportedAsSoonAsTheHeaderIsComplete) {
  FrameDecoder decoder(kMax);
  const std::string bytes = header(kMax + 1);
  EXPECT_EQ(feed(decoder, bytes.substr(0, 3)).last, Status::need_more);
  EXPECT_EQ(feed(decoder, bytes.substr(3)).last, Status::too_large);
  EXPECT_EQ(decoder.announced_length(), kMax + 1);
}

TEST(FrameDecoder, BufferedBytesCountsHeaderAndPartialPayload) {
  FrameDecoder decoder(kMax);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  const std::string bytes = frame("0123456789");
  EXPECT_TRUE(feed(decoder, bytes.substr(0, 3)).frames.empty());
  EXPECT_EQ(decoder.buffered_bytes(), 3u);
  EXPECT_TRUE(feed(decoder, bytes.substr(3, 5)).frames.empty());
  EXPECT_EQ(decoder.buffered_bytes(), 8u);  // 4 header + 4 payload
  const auto last = feed(decoder, bytes.substr(8));
  EXPECT_EQ(last.frames, (std::vector<std::string>{"0123456789"}));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

// The announced length alone must not make the decoder reserve memory for it.
TEST(FrameDecoder, AnnouncedLengthIsNotBufferedUntilItsBytesArrive) {
  FrameDecoder decoder(kMax);
  EXPECT_TRUE(feed(decoder, header(kMax) + "ab").frames.empty());
  EXPECT_EQ(decoder.buffered_bytes(), 6u);
}

// The intake lets a connection read past its bound only up to the end of the frame it holds.
TEST(FrameDecoder, BytesToFrameEndIsTheRestOfTheHeaderThenTheRestOfThePayload) {
  FrameDecoder decoder(kMax);
  const std::string bytes = frame("0123456789") + frame("next");
  EXPECT_EQ(decoder.bytes_to_frame_end(), 4u);  // nothing held: the next frame's header
  feed(decoder, bytes.substr(0, 1));
  EXPECT_EQ(decoder.bytes_to_frame_end(), 3u);  // the length is not known yet
  feed(decoder, bytes.substr(1, 3));
  EXPECT_EQ(decoder.bytes_to_frame_end(), 10u);
  feed(decoder, bytes.substr(4, 6));
  EXPECT_EQ(decoder.bytes_to_frame_end(), 4u);
  EXPECT_EQ(decoder.buffered_bytes(), 10u);
  // Feeding exactly that much completes the frame and leaves nothing of the next one.
  const auto last = feed(decoder, bytes.substr(10, decoder.bytes_to_frame_end()));
  EXPECT_EQ(last.frames, (std::vector<std::string>{"0123456789"}));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_EQ(decoder.bytes_to_frame_end(), 4u);
}

TEST(FrameDecoder, BytesToFrameEndFollowsAPayloadReadInOneGo) {
  FrameDecoder decoder(kMax);
  feed(decoder, frame("whole") + header(3) + "a");
  EXPECT_EQ(decoder.buffered_bytes(), 5u);
  EXPECT_EQ(decoder.bytes_to_frame_end(), 2u);
}

TEST(FrameDecoder, BinaryPayloadWithNulBytesIsKeptIntact) {
  FrameDecoder decoder(kMax);
  const std::string payload("\0a\0\xff\x80\0\n\0", 8);
  // Split in the middle of the payload so both the direct and the buffered path are used.
  const std::string bytes = frame(payload) + frame(payload);
  const auto first = feed(decoder, std::string_view(bytes).substr(0, 7));
  const auto second = feed(decoder, std::string_view(bytes).substr(7));
  EXPECT_TRUE(first.frames.empty());
  ASSERT_EQ(second.frames.size(), 2u);
  EXPECT_EQ(second.frames[0], payload);
  EXPECT_EQ(second.frames[0].size(), 8u);
  EXPECT_EQ(second.frames[1], payload);
}

TEST(FrameDecoder, ManyFramesAcrossArbitraryReadBoundaries) {
  FrameDecoder decoder(kMax);
  std::string bytes;
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) {
    expected.push_back(std::string(static_cast<std::size_t>(i * 7 % 23), static_cast<char>('a' + i % 26)));
    bytes += frame(expected.back());
  }
  // Reads of 1, 2, 3, ... 9 bytes cycling, so boundaries land everywhere.
  std::vector<std::string> frames;
  std::size_t pos = 0;
  for (std::size_t step = 1; pos < bytes.size(); step = step % 9 + 1) {
    const auto result = feed(decoder, std::string_view(bytes).substr(pos, step));
    ASSERT_NE(result.last, Status::too_large);
    frames.insert(frames.end(), result.frames.begin(), result.frames.end());
    pos += step;
  }
  EXPECT_EQ(frames, expected);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

}  // namespace
}  // namespace fls
