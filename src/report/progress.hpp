// Progress of a long sweep on a terminal: case i of n, op and shape, elapsed
// and estimated time left, rewritten in place. Silent when stdout is not a
// terminal or CI is set (CI logs get the final summary only).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace oomless::report {

// True when stdout is a terminal and CI is unset (or "false"/"0").
bool progress_wanted();

class Progress {
 public:
  Progress(int64_t total, bool enabled);
  ~Progress();
  // Called before case `index` (0-based) starts.
  void update(int64_t index, const std::string& label);
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_;
  bool enabled_, shown_ = false;
  Clock::time_point start_, last_;
};

// "1:02:03" / "4:05"
std::string clock_str(double seconds);

}  // namespace oomless::report
