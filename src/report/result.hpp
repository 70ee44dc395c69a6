// One case of a sweep and its outcome under one policy: what every report is
// written from. A results directory holds these as results.json (round-trips).
#pragma once
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/shape.hpp"

namespace oomless::report {

// Statuses as tt-metal's sweep framework names them, in report order. Reports
// always list the first five; the rest only when a case has them.
inline constexpr std::string_view kStatuses[] = {"PASS", "FAIL_L1_OUT_OF_MEM",
                                                 "FAIL_DRAM_OUT_OF_MEM", "FAIL_CB_OUT_OF_MEM",
                                                 "FAIL_ASSERT_EXCEPTION"};
// FAIL_CRASH_HANG: the case's process died or passed --case-timeout; NOT_RUN:
// recorded in a store but not (yet) run (an interrupted sweep; --resume runs it).
inline constexpr std::string_view kExtraStatuses[] = {"FAIL_CRASH_HANG", "NOT_RUN"};
bool is_oom(std::string_view status);
// tt-metal's own name for a status: its sweeps runner files every "Out of Memory:
// Not enough space to allocate" (L1 or DRAM) as FAIL_L1_OUT_OF_MEM and a CB clash
// (a TT_THROW of another text) as FAIL_ASSERT_EXCEPTION; the rest are its names.
std::string_view tt_metal_status(std::string_view status);
// tt-metal's error signature: the message's first line, at most 255 characters.
std::string error_signature(std::string_view message);

struct CaseResult {
  // The case, as the suite describes it.
  int64_t seq = 0;  // position in the suite: orders merged shards
  std::string id;   // "add/0"
  std::string suite, op, aten;
  int64_t case_index = 0;
  std::vector<Shape> shapes_as_given;  // as the seed's test file lists them (NCHW)
  std::vector<Shape> shapes;           // as placed on the device
  std::vector<std::string> args;       // name=value
  std::string args_note;
  std::string dtype, layout, memory;  // memory: where the inputs are placed
  std::string out_memory;             // where the outputs go
  bool ran_in_seed_run = false;
  std::string comment;
  // How it ran and what happened.
  std::string device, policy, mode;  // mode: query (pre-check only) | run (data + verify)
  std::string status;                // one of kStatuses
  std::string pass_kind;             // PASS only: direct | re-placed | streamed | chunked | ...
  std::string message;               // exact error text; empty on PASS
  std::string failed_allocation;     // "input 0", "output 1", "circular buffers", ...
  int64_t logical_bytes = 0;         // unpadded inputs + outputs (the seed's measure)
  int64_t bytes_requested = 0;       // padded bytes of every device buffer the call places
  int64_t largest_buffer_bytes = 0;  // the largest of those buffers
  int64_t bytes_per_bank = 0;        // those buffers per bank (L1: per core), summed
  int64_t cb_bytes_per_core = 0;     // the program's circular buffers
  int64_t bank_size = 0;             // allocatable bytes per bank of the requested memory
  int64_t banks = 0;
  std::string strategy;  // how the device was used ("as requested" for strict)
  int64_t chunks = 1;
  int64_t peak_l1_per_core = 0, peak_dram_per_bank = 0, peak_host_bytes = 0;
  double seconds = 0;
  std::optional<double> max_abs_error;  // run mode, when verified
  int64_t verify_checked = 0, verify_failed = 0;
  std::string git_revision, timestamp;

  std::string shape_key() const;  // the first shape as given, "[1,3,2176,3840]"
};

// What a results directory was made from.
struct SweepMeta {
  std::string suite, suite_file, device, mode;
  std::vector<std::string> policies;
  std::vector<std::string> shards;   // "0/2", ...; empty: unsharded
  std::vector<std::string> filters;  // "--op add", "--max-bytes 1000", ...
  int64_t suite_cases = 0;           // cases in the suite before filters
  int64_t l1_banks = 0, l1_bank_size = 0, dram_banks = 0, dram_bank_size = 0;
  std::string git_revision, started, finished;
  double seconds = 0;  // wall time of the sweep (summed over resumed sessions)
  // How it ran: engine local (worker processes) | dask | in-process, and on how
  // many workers; label: free text naming the sweep (e.g. a Slurm job id).
  std::string engine, label;
  int64_t workers = 0;
  double case_seconds = 0;  // the cases' own times, summed (work done by all workers)
  // The OOM count the seed's own summary printed per operator (each failure counted twice).
  std::map<std::string, int64_t> seed_reported_oom;
};

struct SweepRun {
  SweepMeta meta;
  std::vector<CaseResult> results;  // suite order, strict before auto per case
};

nlohmann::json to_json(const CaseResult& r);
CaseResult case_from_json(const nlohmann::json& j);
nlohmann::json to_json(const SweepMeta& m);
SweepMeta meta_from_json(const nlohmann::json& j);

// "[1,2,3]" lists joined by " x " (for text tables and CSV).
std::string shapes_str(const std::vector<Shape>& shapes);
// 534773760 -> "510.0 MiB"
std::string human_bytes(int64_t bytes);
// "a dask sweep on 2 workers in 4.7 s (the cases took 9.1 s)"; empty when unknown.
std::string how_it_ran(const SweepMeta& m);
// Joins with a separator.
std::string join(const std::vector<std::string>& items, std::string_view sep);
// 534773760 -> "534,773,760"
std::string grouped(int64_t v);

}  // namespace oomless::report
