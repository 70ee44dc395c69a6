#include "report/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace oomless::report {

bool progress_wanted() {
  const char* ci = std::getenv("CI");
  if (ci && *ci && std::string_view(ci) != "false" && std::string_view(ci) != "0") return false;
  return isatty(STDOUT_FILENO) != 0;
}

std::string clock_str(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(int64_t total, bool enabled)
    : total_(total), enabled_(enabled), start_(Clock::now()), last_(start_) {}

Progress::~Progress() {
  finish();
}

void Progress::update(int64_t index, const std::string& label) {
  if (!enabled_) return;
  auto now = Clock::now();
  // At most ~10 redraws a second, but always the first and the last case.
  if (shown_ && index + 1 < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta = index > 0 ? clock_str(elapsed / index * (total_ - index)) : "--:--";
  std::string text = label.size() > 60 ? label.substr(0, 57) + "..." : label;
  fmt::print("\r\033[K[{:>{}}/{}] {}  elapsed {}  ETA {}", index + 1,
             fmt::formatted_size("{}", total_), total_, text, clock_str(elapsed), eta);
  std::fflush(stdout);
  shown_ = true;
}

void Progress::finish() {
  if (!enabled_ || !shown_) return;
  fmt::print("\r\033[K");
  std::fflush(stdout);
  shown_ = false;
}

}  // namespace oomless::report
