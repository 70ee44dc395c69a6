// `oomless sweep` and `oomless merge`: the seed's analysis done right. The logic
// lives in src/report/; this file only maps options and prints the outcome.
#include "report/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "report/aggregate.hpp"
#include "report/writers.hpp"

namespace oomless::cli {

namespace {

struct SweepCli {
  report::SweepOptions o;
  std::string shard, max_bytes, run_max_bytes, out = "results", db;
  bool no_progress = false;
};

struct MergeCli {
  std::vector<std::string> inputs;
  std::string out = "results", db, label;
};

struct ReportCli {
  std::string db = "results/results.db", out;
  int64_t run = 0;
  bool list = false;
};

// The default store lives with the reports.
std::string default_db(const std::string& out, const std::string& db) {
  return db.empty() ? (std::filesystem::path(out) / "results.db").string() : db;
}

void print_outcome(const report::SweepRun& run, const std::vector<std::string>& files) {
  report::Aggregate a = report::aggregate(run.results, run.meta);
  for (const auto& p : run.meta.policies) {
    const report::Tally& t = p == "auto" ? a.auto_total : a.strict_total;
    const report::Tally& seed = p == "auto" ? a.auto_seed_run : a.strict_seed_run;
    fmt::print("{} ({} cases, {} of them ran in the seed's run):\n", p, t.cases, seed.cases);
    for (const auto& s : a.statuses)
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

std::string engine_str(const report::SweepMeta& m) {
  if (m.engine == "dask")
    return fmt::format("dask on {} worker{}", m.workers, m.workers == 1 ? "" : "s");
  if (m.engine == "local")
    return fmt::format("local, {} worker process{}", m.workers, m.workers == 1 ? "" : "es");
  return m.engine.empty() ? "unknown engine" : m.engine;
}

// Wall time against the cases' own time (what one worker would have needed),
// and against an earlier run of the same sweep on another number of workers.
void print_timing(const report::StoredSweep& s) {
  const report::SweepMeta& m = s.run.meta;
  fmt::print("wall time {:.2f} s ({}); the cases took {:.2f} s in all, {:.2f}x the wall time\n",
             m.seconds, engine_str(m), m.case_seconds,
             m.seconds > 0 ? m.case_seconds / m.seconds : 0.0);
  if (s.comparable) {
    const report::SweepMeta& e = s.comparable->meta;
    fmt::print("  vs run {} of the same sweep: {:.2f} s ({}): {:.2f}x\n", s.comparable->id,
               e.seconds, engine_str(e), m.seconds > 0 ? e.seconds / m.seconds : 0.0);
  }
}

int run_sweep_cli(SweepCli& c) {
  if (!c.shard.empty()) std::tie(c.o.shard_index, c.o.shard_count) = report::parse_shard(c.shard);
  if (!c.max_bytes.empty()) c.o.max_bytes = report::parse_size(c.max_bytes, "--max-bytes");
  if (!c.run_max_bytes.empty())
    c.o.run_max_bytes = report::parse_size(c.run_max_bytes, "--run-max-bytes");
  if (c.no_progress) c.o.progress = false;
  std::string db = default_db(c.out, c.db);
  report::StoredSweep s = report::run_stored_sweep(c.o, db);
  std::string where = report::is_postgres_url(db) ? report::redact_url(db) : db;
  if (s.interrupted) {
    int64_t done = 0;
    for (const auto& r : s.run.results) done += r.status != "NOT_RUN";
    fmt::print(stderr,
               "interrupted: {} of {} cases recorded in {} (run {}); the rest are NOT_RUN. "
               "Run the same command with --resume to finish it.\n",
               done, s.run.results.size(), where, s.info.id);
    return 130;
  }
  if (s.run.results.empty())
    fmt::print(stderr, "warning: no case of {} matches the filters\n", s.run.meta.suite_file);
  auto files = report::write_reports(c.out, s.run);
  if (c.o.resume)
    fmt::print("resumed run {}: {} cases were already recorded, {} ran now\n", s.info.id, s.skipped,
               static_cast<int64_t>(s.run.results.size()) - s.skipped);
  print_outcome(s.run, files);
  fmt::print("store: {} (run {}, {})\n", where, s.info.id, s.info.status);
  print_timing(s);
  return 0;
}

int run_merge_cli(const MergeCli& c) {
  std::string db = default_db(c.out, c.db);
  report::Merged m = report::merge_stores(c.inputs, db, c.label);
  auto files = report::write_reports(c.out, m.run);
  fmt::print("merged {} runs from {} inputs ({} new to {}): {} results\n", m.runs, c.inputs.size(),
             m.copied, report::is_postgres_url(db) ? report::redact_url(db) : db,
             m.run.results.size());
  print_outcome(m.run, files);
  return 0;
}

int run_report_cli(const ReportCli& c) {
  // Reading a store that is not there would create an empty one.
  if (!report::is_postgres_url(c.db) && !std::filesystem::exists(c.db))
    fail("report", fmt::format("no store at {}", c.db));
  auto store = report::Store::open(c.db);
  auto runs = store->runs();
  if (c.list) {
    fmt::print("{:>5}  {:<20}  {:<9}  {:>11}  {:<22}  {}\n", "run", "started", "status", "cases",
               "engine", "sweep");
    for (const auto& r : runs)
      fmt::print("{:>5}  {:<20}  {:<9}  {:>5}/{:<5}  {:<22}  {} {} {} {}{}\n", r.id, r.meta.started,
                 r.status, r.recorded, r.cases, engine_str(r.meta), r.meta.suite, r.meta.mode,
                 report::join(r.meta.policies, ","), report::join(r.meta.shards, ","),
                 r.meta.label.empty() ? "" : " [" + r.meta.label + "]");
    if (c.out.empty()) return 0;
  }
  if (runs.empty()) fail("report", fmt::format("{} has no runs", store->where()));
  int64_t id = c.run > 0 ? c.run : runs.back().id;
  report::SweepRun run = store->load(id);
  auto files = report::write_reports(c.out.empty() ? "results" : c.out, run);
  fmt::print("run {} of {}: {} results\n", id, store->where(), run.results.size());
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
  sw->add_option("--engine", s.o.engine,
                 "local: worker processes on this machine | dask: Dask distributed workers")
      ->capture_default_str();
  sw->add_option("--jobs", s.o.jobs,
                 "local engine: worker processes, each running one case at a time (0: in this "
                 "process, without isolation)")
      ->capture_default_str();
  sw->add_option("--case-timeout", s.o.case_timeout,
                 "seconds a case may take; past it (or when it crashes its process) it is "
                 "FAIL_CRASH_HANG (0: no limit)")
      ->capture_default_str();
  sw->add_option("--scheduler", s.o.scheduler, "dask: the scheduler, tcp://HOST:PORT");
  sw->add_option("--scheduler-file", s.o.scheduler_file,
                 "dask: the file `dask scheduler --scheduler-file` wrote");
  sw->add_option("--batch-size", s.o.batch_size,
                 "dask: cases per task (0: batches of about equal expected time)")
      ->capture_default_str();
  sw->add_option("--dask-workers", s.o.dask_workers,
                 "dask: use at most this many of the scheduler's workers (0: all)")
      ->capture_default_str();
  sw->add_option("--worker-bin", s.o.worker_binary,
                 "dask: path of the oomless program on the workers (default: this one)");
  sw->add_option("--db", s.db,
                 "results store: a SQLite file (default OUT/results.db) or "
                 "postgresql://user@host:port/dbname");
  sw->add_flag("--resume", s.o.resume,
               "continue the latest run of the same sweep in the store: cases it recorded are "
               "not run again");
  sw->add_option("--label", s.o.label, "a name stored with the run (e.g. a Slurm job id)");
  reg.push_back({sw, [&s] { return run_sweep_cli(s); }});

  auto& m = keep.make<MergeCli>();
  CLI::App* mg = app.add_subcommand(
      "merge",
      "merge the shards of a sweep from stores (SQLite files, postgresql:// URLs) or results "
      "directories into one store and write the reports");
  mg->add_option("inputs", m.inputs,
                 "stores or results directories (their results.db, else results.json)")
      ->required();
  mg->add_option("--out", m.out, "directory for the merged reports")->capture_default_str();
  mg->add_option("--db", m.db, "store the runs are merged into (default OUT/results.db)");
  mg->add_option("--label", m.label, "only runs with this label (e.g. the Slurm array job id)");
  reg.push_back({mg, [&m] { return run_merge_cli(m); }});

  auto& r = keep.make<ReportCli>();
  CLI::App* rp = app.add_subcommand("report", "write the reports of a run from a results store");
  rp->add_option("--db", r.db, "SQLite file or postgresql:// URL")->capture_default_str();
  rp->add_option("--run", r.run, "run id (default: the latest)");
  rp->add_flag("--list", r.list, "list the store's runs");
  rp->add_option("--out", r.out, "reports directory (default results)");
  reg.push_back({rp, [&r] { return run_report_cli(r); }});

  // Internal: the worker processes of the engines.
  CLI::App* wk = app.add_subcommand("sweep-worker", "");
  wk->group("");
  reg.push_back({wk, [] { return report::sweep_worker_main(); }});
  auto& bt = keep.make<double>();
  bt = 600;
  CLI::App* ba = app.add_subcommand("sweep-batch", "");
  ba->group("");
  ba->add_option("--case-timeout", bt);
  reg.push_back({ba, [&bt] { return report::sweep_batch_main(bt); }});
}

}  // namespace oomless::cli
