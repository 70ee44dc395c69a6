// `oomless sweep`: runs a suite's cases on a device profile under one or both
// policies and writes a results directory; `oomless merge` combines shards.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "device/profile.hpp"
#include "report/policy.hpp"
#include "report/result.hpp"

namespace oomless::report {

struct SweepOptions {
  std::string suite_file = "suites/seed.json";
  std::string device = device::kDefaultProfile;
  std::string policy = "strict";     // strict | auto | both
  std::string mode = "query";        // query | run
  std::vector<std::string> ops;      // keep only these ops (names or aliases)
  std::optional<int64_t> max_bytes;  // keep cases requesting at most this many padded bytes
  // Run mode: larger cases are only pre-checked and planned (their mode is query).
  std::optional<int64_t> run_max_bytes;
  int64_t shard_index = 0, shard_count = 1;
  std::optional<bool> progress;  // default: progress_wanted()
  int64_t verify_samples = 2000;
  uint64_t seed = 0;
  std::string message_format;  // tt-metal message words (empty: the profile's)
};

// Validates options first (unknown op, policy or device, bad shard) and throws
// InvalidArgument before anything runs.
SweepRun run_sweep(const SweepOptions& o);

// "i/n" with 0 <= i < n.
std::pair<int64_t, int64_t> parse_shard(std::string_view text);
// "1000", "64K", "1.5G", "512MiB" (binary units).
int64_t parse_size(std::string_view text, std::string_view what);

// Reads results.json of each directory and combines them (suite order; a case
// present twice is kept once). InvalidArgument when they are from different
// suites, devices or modes.
SweepRun merge_runs(const std::vector<std::string>& dirs);

// `git describe --always --dirty` of the source tree, or "unknown".
std::string git_revision();
// UTC, "2025-08-18T19:40:00Z".
std::string utc_now();

}  // namespace oomless::report
