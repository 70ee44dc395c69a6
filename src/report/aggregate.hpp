// Tallies shared by the text, markdown and HTML reports: every case counted once
// per policy, grouped by operator and by shape (the first shape as given).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "report/result.hpp"

namespace oomless::report {

struct Tally {
  int64_t cases = 0;
  std::map<std::string, int64_t, std::less<>> by_status;
  void add(const CaseResult& r);
  int64_t count(std::string_view status) const;
  int64_t oom() const;
  int64_t pass() const { return count("PASS"); }
  int64_t fail() const { return cases - pass(); }
};

struct OpRow {
  std::string op, aten;
  Tally strict, autop;
  Tally strict_seed_run;                // cases the seed's logged run executed
  const CaseResult* worst = nullptr;    // strict OOM case with the largest padded request
  std::vector<std::string> args_notes;  // distinct, in case order
};

struct ShapeRow {
  std::string shape;
  int64_t largest_buffer_bytes = 0;  // max over cases of the shape
  int64_t bytes_per_bank = 0;        // max over cases of the shape
  int64_t logical_bytes = 0;         // of the first input, unpadded (bf16)
  Tally strict, autop;
  std::vector<std::string> ops_oom, ops_ok, ops_assert;  // strict verdicts, distinct op names
};

struct Aggregate {
  std::vector<const CaseResult*> strict, autop;  // by policy, suite order
  bool has_strict = false, has_auto = false;
  std::string no_auto;  // what an auto column says when there is no auto run
  Tally strict_total, auto_total, strict_seed_run, auto_seed_run;
  std::vector<OpRow> ops;        // suite order
  std::vector<ShapeRow> shapes;  // largest buffer first
  std::map<std::string, const CaseResult*> auto_by_id;
  std::map<std::string, const CaseResult*> strict_by_id;
  int64_t l1_bank_size = 0, dram_bank_size = 0;
  // The statuses to list: kStatuses, then any other status a case has.
  std::vector<std::string> statuses;
};

// `results` must outlive the aggregate (it points into it).
Aggregate aggregate(const std::vector<CaseResult>& results, const SweepMeta& meta);

// Short labels: "PASS", "L1 OOM", "DRAM OOM", "CB OOM", "ASSERT", "CRASH/HANG", "NOT RUN".
std::string_view short_status(std::string_view status);
// Status colours shared by the HTML charts.
std::string_view status_colour(std::string_view status);
// "12 PASS, 3 L1 OOM, ..." (non-zero entries only).
std::string tally_str(const Tally& t);

}  // namespace oomless::report
