// `oomless sweep`: runs a suite's cases on a device profile under one or both
// policies and writes a results directory; `oomless merge` combines shards.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "device/profile.hpp"
#include "report/engine.hpp"
#include "report/policy.hpp"
#include "report/result.hpp"
#include "report/store.hpp"

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
  // How the cases run (engine.hpp) and where they are recorded (store.hpp).
  std::string engine = "local";  // local | dask
  int jobs = 1;                  // local: worker processes; 0: in this process (no isolation)
  double case_timeout = 600;     // seconds per case; <= 0: none
  std::string scheduler, scheduler_file;
  int64_t batch_size = 0;     // dask: cases per batch; 0: sized by expected time
  int64_t dask_workers = 0;   // dask: use at most this many of the scheduler's workers; 0: all
  std::string worker_binary;  // dask: the oomless program on the workers (default: this one)
  bool resume = false;        // continue the latest run with the same run vector
  std::string label;          // free text stored with the run (a Slurm job id, ...)
};

// The work of a sweep, validated: its meta (started now), what every worker
// needs, and the cases under each policy in report order.
struct SweepPlan {
  SweepMeta meta;
  WorkerSetup setup;
  std::vector<WorkItem> items;
  // What decides the cases and their outcomes (suite and its digest, device,
  // policies, mode, filters, shard, samples, seed): --resume's key.
  std::string run_vector;
};

// Validates options first (unknown op, policy or device, bad shard, engine)
// and throws InvalidArgument before anything runs.
SweepPlan plan_sweep(const SweepOptions& o);

// Runs a sweep in this process and returns its results (no store, no isolation).
SweepRun run_sweep(const SweepOptions& o);

// A sweep recorded in a store: the run as the store has it afterwards.
struct StoredSweep {
  RunInfo info;
  SweepRun run;
  int64_t skipped = 0;                // cases --resume found already recorded
  bool interrupted = false;           // SIGINT/SIGTERM: the run is cancelled, resumable
  std::optional<RunInfo> comparable;  // an earlier finished run of the same vector on another
                                      // number of workers (for the wall-time comparison)
};
// Connects the engine (a Dask scheduler), then opens the store (`db`: a SQLite
// path or postgresql:// URL), then records every case as it finishes. Errors
// reaching either are InvalidArgument, raised before the store is touched.
StoredSweep run_stored_sweep(const SweepOptions& o, const std::string& db);

// Where the Dask driver script and Python are (OOMLESS_DASK_DRIVER, OOMLESS_PYTHON).
std::string dask_driver_path();

// "i/n" with 0 <= i < n.
std::pair<int64_t, int64_t> parse_shard(std::string_view text);
// "1000", "64K", "1.5G", "512MiB" (binary units).
int64_t parse_size(std::string_view text, std::string_view what);

// Reads results.json of each directory and combines them (suite order; a case
// present twice is kept once). InvalidArgument when they are from different
// suites, devices or modes.
SweepRun merge_runs(const std::vector<std::string>& dirs);
// Combines runs (shards of one sweep) the same way.
SweepRun combine_runs(std::vector<SweepRun> runs, const std::vector<std::string>& origins);

// `oomless merge`: the shards of one sweep, from stores (SQLite files,
// postgresql:// URLs) and results directories (their results.db, else
// results.json), copied into the store `dest`; returns them combined.
// From each input it takes, among the runs with `label` (when given), the
// latest run of each shard of the latest sweep.
struct Merged {
  SweepRun run;
  int64_t runs = 0, copied = 0;  // runs taken, and those new to `dest`
};
Merged merge_stores(const std::vector<std::string>& inputs, const std::string& dest,
                    const std::string& label);

// Which of `total` filtered cases shard i of n runs: k with k % n == i.
std::vector<size_t> shard_indices(size_t total, int64_t index, int64_t count);

// `git describe --always --dirty` of the source tree, or "unknown".
std::string git_revision();
// UTC, "2025-08-18T19:40:00Z".
std::string utc_now();

}  // namespace oomless::report
