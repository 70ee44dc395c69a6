// `oomless sweep` and `oomless merge`: the seed's analysis done right. The logic
// lives in src/report/; this file only maps options and prints the outcome.
#include "report/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "report/aggregate.hpp"
#include "report/writers.hpp"

namespace oomless::cli {

namespace {

struct SweepCli {
  report::SweepOptions o;
  std::string shard, max_bytes, run_max_bytes, out = "results";
  bool no_progress = false;
};

struct MergeCli {
  std::vector<std::string> dirs;
  std::string out = "results";
};

void print_outcome(const report::SweepRun& run, const std::vector<std::string>& files) {
  report::Aggregate a = report::aggregate(run.results, run.meta);
  for (const auto& p : run.meta.policies) {
    const report::Tally& t = p == "auto" ? a.auto_total : a.strict_total;
    const report::Tally& seed = p == "auto" ? a.auto_seed_run : a.strict_seed_run;
    fmt::print("{} ({} cases, {} of them ran in the seed's run):\n", p, t.cases, seed.cases);
    for (auto s : report::kStatuses)
      fmt::print("  {:<22} {:>6}  (seed run {:>5})\n", s, t.count(s), seed.count(s));
  }
  std::vector<const report::CaseResult*> slow;
  for (const auto& r : run.results) slow.push_back(&r);
  std::stable_sort(slow.begin(), slow.end(),
                   [](const auto* x, const auto* y) { return x->seconds > y->seconds; });
  if (!slow.empty()) fmt::print("slowest cases:\n");
  for (size_t i = 0; i < slow.size() && i < 3; ++i)
    fmt::print("  {:.3f} s  {} ({}) {} {}\n", slow[i]->seconds, slow[i]->id, slow[i]->policy,
               report::shapes_str(slow[i]->shapes), slow[i]->status);
  fmt::print("reports (sweep took {:.1f} s):\n", run.meta.seconds);
  for (const auto& f : files) fmt::print("  {}\n", f);
}

int run_sweep_cli(SweepCli& c) {
  if (!c.shard.empty()) std::tie(c.o.shard_index, c.o.shard_count) = report::parse_shard(c.shard);
  if (!c.max_bytes.empty()) c.o.max_bytes = report::parse_size(c.max_bytes, "--max-bytes");
  if (!c.run_max_bytes.empty())
    c.o.run_max_bytes = report::parse_size(c.run_max_bytes, "--run-max-bytes");
  if (c.no_progress) c.o.progress = false;
  report::SweepRun run = report::run_sweep(c.o);
  if (run.results.empty())
    fmt::print(stderr, "warning: no case of {} matches the filters\n", run.meta.suite_file);
  auto files = report::write_reports(c.out, run);
  print_outcome(run, files);
  return 0;
}

int run_merge_cli(const MergeCli& c) {
  report::SweepRun run = report::merge_runs(c.dirs);
  auto files = report::write_reports(c.out, run);
  fmt::print("merged {} directories: {} results\n", c.dirs.size(), run.results.size());
  print_outcome(run, files);
  return 0;
}

}  // namespace

void add_sweep(CLI::App& app, Registry& reg, Keep& keep) {
  auto& s = keep.make<SweepCli>();
  CLI::App* sw = app.add_subcommand(
      "sweep",
      "run a suite of op calls on a device profile under a policy and write results.json, "
      "results.csv, summary.txt, report.md and report.html; every case gets one status");
  sw->add_option("--suite", s.o.suite_file, "suite file (suites/*.json)")->capture_default_str();
  sw->add_option("--device", s.o.device, "device profile name or a JSON file")
      ->capture_default_str();
  sw->add_option("--policy", s.o.policy,
                 "strict (as TT-NN runs it) | auto (the planner: re-place, stream, chunk, host "
                 "fallback) | both")
      ->capture_default_str();
  sw->add_option("--mode", s.o.mode,
                 "query: pre-check only (fast) | run: also run the cases that fit with data "
                 "and verify them")
      ->capture_default_str();
  sw->add_option("--op", s.o.ops, "only this operator (repeatable)");
  sw->add_option("--max-bytes", s.max_bytes,
                 "only cases whose padded device request is at most this (1000, 64M, 1.5GiB)");
  sw->add_option("--run-max-bytes", s.run_max_bytes,
                 "run mode: run with data only cases requesting at most this; larger ones are "
                 "pre-checked and planned (their mode says query)");
  sw->add_option("--shard", s.shard, "run part i of n of the (filtered) cases, e.g. 0/2");
  sw->add_option("--out", s.out, "results directory")->capture_default_str();
  sw->add_option("--samples", s.o.verify_samples, "run mode: elements verified per output (0: all)")
      ->capture_default_str();
  sw->add_option("--seed", s.o.seed, "seed of the random inputs")->capture_default_str();
  sw->add_option("--tt-metal-format", s.o.message_format, format_option_help());
  sw->add_flag("--no-progress", s.no_progress,
               "no progress line (also off when stdout is not a terminal or CI=true)");
  reg.push_back({sw, [&s] { return run_sweep_cli(s); }});

  auto& m = keep.make<MergeCli>();
  CLI::App* mg = app.add_subcommand(
      "merge", "combine the results directories of sweep shards into one and rewrite the reports");
  mg->add_option("dirs", m.dirs, "results directories (each with results.json)")->required();
  mg->add_option("--out", m.out, "merged results directory")->capture_default_str();
  reg.push_back({mg, [&m] { return run_merge_cli(m); }});
}

}  // namespace oomless::cli
