// The timestamp forms of protocol.md §2 (toISOString) and §4 (Java ISO_INSTANT).
#include "fls/common/iso_time.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace fls {
namespace {

constexpr std::int64_t kNanosPerMilli = 1'000'000;

// ---- append_iso_millis / format_iso_millis ----
// Expected strings are what JavaScript's new Date(ms).toISOString() prints.

TEST(FormatIsoMillis, EpochZero) { EXPECT_EQ(format_iso_millis(0), "1970-01-01T00:00:00.000Z"); }

TEST(FormatIsoMillis, ProtocolExample) { EXPECT_EQ(format_iso_millis(1500041775123), "2017-07-14T14:16:15.123Z"); }

TEST(FormatIsoMillis, LeapDay) {
  EXPECT_EQ(format_iso_millis(1582934400000), "2020-02-29T00:00:00.000Z");
  EXPECT_EQ(format_iso_millis(1583020799999), "2020-02-29T23:59:59.999Z");
  // One millisecond later it is March, not February 30.
  EXPECT_EQ(format_iso_millis(1583020800000), "2020-03-01T00:00:00.000Z");
}

TEST(FormatIsoMillis, Year2000) {
  EXPECT_EQ(format_iso_millis(946684800000), "2000-01-01T00:00:00.000Z");
  // 2000 is a leap year although divisible by 100 (it is divisible by 400).
  EXPECT_EQ(format_iso_millis(951782400000), "2000-02-29T00:00:00.000Z");
}

TEST(FormatIsoMillis, BeforeEpochRoundsTowardsEarlierMillisecondOfDay) {
  EXPECT_EQ(format_iso_millis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso_millis(-86400000), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(format_iso_millis(-43199995), "1969-12-31T12:00:00.005Z");
  EXPECT_EQ(format_iso_millis(-2203891200000), "1900-03-01T00:00:00.000Z");
}

TEST(FormatIsoMillis, AlwaysThreeFractionDigitsAndZ) {
  EXPECT_EQ(format_iso_millis(1500041775000), "2017-07-14T14:16:15.000Z");
  EXPECT_EQ(format_iso_millis(1500041775001), "2017-07-14T14:16:15.001Z");
  EXPECT_EQ(format_iso_millis(1500041775010), "2017-07-14T14:16:15.010Z");
  EXPECT_EQ(format_iso_millis(1500041775100), "2017-07-14T14:16:15.100Z");
}

TEST(AppendIsoMillis, AppendsWithoutTouchingExistingText) {
  std::string out = "created=";
  append_iso_millis(out, 1500041775123);
  EXPECT_EQ(out, "created=2017-07-14T14:16:15.123Z");
}

// ---- parse_iso_instant ----

constexpr std::int64_t kExampleSecond = 1500041775;  // 2017-07-14T14:16:15Z

TEST(ParseIsoInstant, AcceptsZeroThreeSixAndNineFractionDigits) {
  const auto whole = parse_iso_instant("2017-07-14T14:16:15Z");
  const auto millis = parse_iso_instant("2017-07-14T14:16:15.123Z");
  const auto micros = parse_iso_instant("2017-07-14T14:16:15.123456Z");
  const auto nanos = parse_iso_instant("2017-07-14T14:16:15.123456789Z");
  ASSERT_TRUE(whole && millis && micros && nanos);
  for (const auto& parsed : {whole, millis, micros, nanos}) EXPECT_EQ(parsed->epoch_seconds, kExampleSecond);
  EXPECT_EQ(whole->nanos, 0);
  EXPECT_EQ(millis->nanos, 123'000'000);
  EXPECT_EQ(micros->nanos, 123'456'000);
  EXPECT_EQ(nanos->nanos, 123'456'789);
}

TEST(ParseIsoInstant, FractionDigitsAreReadAsADecimalFraction) {
  const auto one = parse_iso_instant("2017-07-14T14:16:15.5Z");
  const auto leading_zeros = parse_iso_instant("2017-07-14T14:16:15.000000001Z");
  ASSERT_TRUE(one && leading_zeros);
  EXPECT_EQ(one->nanos, 500'000'000);
  EXPECT_EQ(leading_zeros->nanos, 1);
}

TEST(ParseIsoInstant, AcceptsUtcOffsetForm) {
  const auto parsed = parse_iso_instant("2017-07-14T14:16:15.123+00:00");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->epoch_seconds, kExampleSecond);
  EXPECT_EQ(parsed->nanos, 123'000'000);
}

TEST(ParseIsoInstant, ReadsWhatFormatIsoMillisWrites) {
  for (const std::int64_t ms :
       {0LL, 1LL, -1LL, 1500041775123LL, 1583020799999LL, 946684800000LL, -2203891200000LL, -43199995LL}) {
    const std::string text = format_iso_millis(ms);
    const auto parsed = parse_iso_instant(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->epoch_seconds * 1000 + parsed->nanos / kNanosPerMilli, ms) << text;
    EXPECT_EQ(parsed->nanos % kNanosPerMilli, 0) << text;
  }
}

// Before 1970 the seconds are negative and the fraction still counts forwards from them.
TEST(ParseIsoInstant, BeforeEpochKeepsNanosNonNegative) {
  const auto parsed = parse_iso_instant("1969-12-31T23:59:59.999Z");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->epoch_seconds, -1);
  EXPECT_EQ(parsed->nanos, 999'000'000);
}

TEST(ParseIsoInstant, LeapDaysOnlyInLeapYears) {
  const auto leap = parse_iso_instant("2020-02-29T00:00:00Z");
  ASSERT_TRUE(leap);
  EXPECT_EQ(leap->epoch_seconds, 1582934400);
  EXPECT_TRUE(parse_iso_instant("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_iso_instant("2019-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_iso_instant("1900-02-29T00:00:00Z"));
}

// Any four-digit year, far outside what 64-bit nanoseconds could count (1677 to 2262).
TEST(ParseIsoInstant, ExtremeYearsDoNotOverflow) {
  const auto first = parse_iso_instant("0001-01-01T00:00:00Z");
  const auto last = parse_iso_instant("9999-12-31T23:59:59.999999999Z");
  ASSERT_TRUE(first && last);
  EXPECT_EQ(first->epoch_seconds, -62135596800);
  EXPECT_EQ(first->nanos, 0);
  EXPECT_EQ(last->epoch_seconds, 253402300799);
  EXPECT_EQ(last->nanos, 999'999'999);
  EXPECT_TRUE(*first < *last);
}

TEST(ParseIsoInstant, RejectsTenFractionDigits) { EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.1234567891Z")); }

TEST(ParseIsoInstant, RejectsDotWithoutDigits) { EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.Z")); }

TEST(ParseIsoInstant, RejectsMissingOrOtherZone) {
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.123"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.123+01:00"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.123ZZ"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:15.123Z "));
}

TEST(ParseIsoInstant, RejectsOutOfRangeFields) {
  EXPECT_FALSE(parse_iso_instant("2017-13-14T14:16:15Z"));  // month 13
  EXPECT_FALSE(parse_iso_instant("2017-00-14T14:16:15Z"));  // month 0
  EXPECT_FALSE(parse_iso_instant("2017-02-30T14:16:15Z"));  // February 30
  EXPECT_FALSE(parse_iso_instant("2017-04-31T14:16:15Z"));  // April 31
  EXPECT_FALSE(parse_iso_instant("2017-07-00T14:16:15Z"));  // day 0
  EXPECT_FALSE(parse_iso_instant("2017-07-14T24:00:00Z"));  // hour 24
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:60:15Z"));  // minute 60
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:60Z"));  // second 60
}

TEST(ParseIsoInstant, RejectsGarbageAndEmpty) {
  EXPECT_FALSE(parse_iso_instant(""));
  EXPECT_FALSE(parse_iso_instant("Z"));
  EXPECT_FALSE(parse_iso_instant("not a timestamp at all"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14"));
  EXPECT_FALSE(parse_iso_instant("2017/07/14T14:16:15Z"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14 14:16:15Z"));
  EXPECT_FALSE(parse_iso_instant("2017-7-14T14:16:15Z"));
  EXPECT_FALSE(parse_iso_instant("2017-07-14T14:16:1xZ"));
  EXPECT_FALSE(parse_iso_instant("+2017-07-14T14:16:15Z"));
  EXPECT_FALSE(parse_iso_instant("1500041775123"));
}

// ---- Instant::micros_ceil / micros_floor ----

TEST(InstantMicros, WholeMicrosecondsAreUnchanged) {
  EXPECT_EQ((Instant{0, 0}.micros_ceil()), 0);
  EXPECT_EQ((Instant{0, 0}.micros_floor()), 0);
  EXPECT_EQ((Instant{0, 2000}.micros_ceil()), 2);
  EXPECT_EQ((Instant{0, 2000}.micros_floor()), 2);
  EXPECT_EQ((Instant{5, 123'456'000}.micros_ceil()), 5'123'456);
  EXPECT_EQ((Instant{5, 123'456'000}.micros_floor()), 5'123'456);
  EXPECT_EQ((Instant{-1, 998'000}.micros_ceil()), -999'002);
  EXPECT_EQ((Instant{-1, 998'000}.micros_floor()), -999'002);
}

TEST(InstantMicros, FractionsRoundTowardsLaterAndEarlier) {
  EXPECT_EQ((Instant{0, 1}.micros_ceil()), 1);
  EXPECT_EQ((Instant{0, 1}.micros_floor()), 0);
  EXPECT_EQ((Instant{0, 1500}.micros_ceil()), 2);
  EXPECT_EQ((Instant{0, 1500}.micros_floor()), 1);
  EXPECT_EQ((Instant{0, 999'999'999}.micros_ceil()), 1'000'000);
  EXPECT_EQ((Instant{0, 999'999'999}.micros_floor()), 999'999);
}

// Before 1970 "later" is towards zero and "earlier" away from it: not truncation.
TEST(InstantMicros, BeforeEpochRoundsTowardsLaterAndEarlier) {
  // -0.999999999 s: between -1'000'000 us and -999'999 us.
  EXPECT_EQ((Instant{-1, 1}.micros_ceil()), -999'999);
  EXPECT_EQ((Instant{-1, 1}.micros_floor()), -1'000'000);
  // -1 ns
  EXPECT_EQ((Instant{-1, 999'999'999}.micros_ceil()), 0);
  EXPECT_EQ((Instant{-1, 999'999'999}.micros_floor()), -1);
}

TEST(InstantMicros, NineDigitInstantBracketsItsMicrosecond) {
  const auto parsed = parse_iso_instant("2017-07-14T14:16:15.123456789Z");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->micros_floor(), 1500041775123456);
  EXPECT_EQ(parsed->micros_ceil(), 1500041775123457);
}

TEST(InstantOrder, ComparesSecondsThenNanos) {
  EXPECT_TRUE((Instant{1, 0} < Instant{1, 1}));
  EXPECT_FALSE((Instant{1, 1} < Instant{1, 1}));
  EXPECT_TRUE((Instant{-1, 999'999'999} < Instant{0, 0}));
  EXPECT_FALSE((Instant{2, 0} < Instant{1, 999'999'999}));
}

}  // namespace
}  // namespace fls
