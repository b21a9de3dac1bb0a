#include "fls/kms_server/inquiry_tracker.h"

#include <algorithm>

namespace fls::kms {

bool InquiryTracker::Waiting::finished() const {
  return storing == 0 && std::all_of(asked.begin(), asked.end(),
                                     [&](const auto& a) { return a.second.complete() || gone.count(a.first) != 0; });
}

void InquiryTracker::track(const std::string& inquiry_id, const std::vector<std::string>& asked,
                           const std::set<std::string>& gone, TimePoint deadline) {
  Waiting waiting;
  for (const auto& sidecar : asked) waiting.asked[sidecar];
  waiting.gone = gone;
  waiting.deadline = deadline;
  inquiries_[inquiry_id] = std::move(waiting);
}

InquiryJudgement InquiryTracker::judge(const std::string& sender, const std::string& inquiry_id, std::int64_t total,
                                       std::int64_t item, bool has_batch) {
  const auto it = inquiries_.find(inquiry_id);
  if (it == inquiries_.end()) return InquiryJudgement{"it is not open", std::nullopt};
  const auto answer = it->second.asked.find(sender);
  if (answer == it->second.asked.end()) return InquiryJudgement{"it was not sent to this sidecar", std::nullopt};
  Waiting& waiting = it->second;
  ++waiting.storing;
  return InquiryJudgement{{}, answer->second.add(total, item, has_batch), ++waiting.arrivals};
}

void InquiryTracker::stored(const std::string& inquiry_id) {
  const auto it = inquiries_.find(inquiry_id);
  if (it != inquiries_.end() && it->second.storing > 0) --it->second.storing;
}

std::vector<std::string> InquiryTracker::sidecar_gone(const std::string& sidecar) {
  std::vector<std::string> finished;
  for (auto& [inquiry_id, waiting] : inquiries_) {
    if (waiting.asked.count(sidecar) == 0) continue;
    waiting.gone.insert(sidecar);
    if (waiting.finished()) finished.push_back(inquiry_id);
  }
  return finished;
}

bool InquiryTracker::finished(const std::string& inquiry_id) const {
  const auto it = inquiries_.find(inquiry_id);
  return it != inquiries_.end() && it->second.finished();
}

bool InquiryTracker::forget(const std::string& inquiry_id) { return inquiries_.erase(inquiry_id) != 0; }

std::vector<std::string> InquiryTracker::expired(TimePoint now) const {
  std::vector<std::string> out;
  for (const auto& [inquiry_id, waiting] : inquiries_) {
    if (waiting.deadline <= now) out.push_back(inquiry_id);
  }
  return out;
}

std::optional<InquiryTracker::TimePoint> InquiryTracker::next_deadline() const {
  std::optional<TimePoint> next;
  for (const auto& [inquiry_id, waiting] : inquiries_) {
    if (!next || waiting.deadline < *next) next = waiting.deadline;
  }
  return next;
}

}  // namespace fls::kms
