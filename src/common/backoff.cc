#include "fls/common/backoff.h"

#include <algorithm>
#include <thread>

namespace fls {

std::chrono::milliseconds Backoff::next() {
  current_ = current_.count() == 0 ? std::chrono::milliseconds(100) : std::min(current_ * 2, max_);
  return current_;
}

void sleep_unless_stopping(std::chrono::milliseconds delay, const std::atomic<bool>& stopping) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!stopping && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
}

}  // namespace fls
