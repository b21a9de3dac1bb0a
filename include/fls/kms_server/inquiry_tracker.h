#pragma once
// The inquiries fls-kms is waiting on (protocol.md §7 "Progress"): which sidecars were asked,
// which have answered whole or left, which responses count, and when each inquiry gives up
// waiting. Pure and single-threaded (the I/O thread's); the caller keeps the timer.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fls/kms_server/verdict.h"

namespace fls::kms {

// How one inquiry-response is taken.
struct InquiryJudgement {
  // Set: it is not stored at all, and this says why (its inquiry is not open, or was not sent
  // to its sender, so nobody outside an inquiry can change its verdict).
  std::string dropped;
  // Set: it is stored, but as a problem of its sender instead of a result that counts.
  std::optional<std::string> problem;
  // Its place among the inquiry's responses (1, 2, ...), when it is stored.
  std::int64_t arrival = 0;
};

class InquiryTracker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Starts waiting for `asked` (those in `gone` left before it was sent) until `deadline`.
  void track(const std::string& inquiry_id, const std::vector<std::string>& asked, const std::set<std::string>& gone,
             TimePoint deadline);

  // A response that is not dropped must be stored, and stored() called once it is (or failed to be).
  InquiryJudgement judge(const std::string& sender, const std::string& inquiry_id, std::int64_t total,
                         std::int64_t item, bool has_batch);
  void stored(const std::string& inquiry_id);

  // `sidecar`'s connection closed: the inquiries that waited on it and now have nothing left to
  // wait for.
  std::vector<std::string> sidecar_gone(const std::string& sidecar);

  // Every asked sidecar has answered whole or left, and every response judged is stored.
  bool finished(const std::string& inquiry_id) const;

  // Stops waiting; false if the inquiry was not being waited on.
  bool forget(const std::string& inquiry_id);

  // The inquiries whose deadline is at or before `now`.
  std::vector<std::string> expired(TimePoint now) const;
  std::optional<TimePoint> next_deadline() const;

  std::size_t size() const { return inquiries_.size(); }

 private:
  struct Waiting {
    std::map<std::string, AnswerProgress> asked;  // sidecar id -> what it sent that counted
    std::set<std::string> gone;                   // asked sidecars whose connection closed
    TimePoint deadline;
    std::int64_t arrivals = 0;  // responses judged to be stored
    std::int64_t storing = 0;   // ... and not stored yet
    bool finished() const;
  };
  std::map<std::string, Waiting> inquiries_;
};

}  // namespace fls::kms
