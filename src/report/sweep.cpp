#include "report/sweep.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/host_budget.hpp"
#include "ops/op.hpp"
#include "report/proc.hpp"
#include "report/progress.hpp"
#include "report/suite.hpp"

namespace oomless::report {

using Clock = std::chrono::steady_clock;

std::pair<int64_t, int64_t> parse_shard(std::string_view text) {
  auto slash = text.find('/');
  int64_t i = -1, n = 0;
  if (slash != std::string_view::npos) {
    try {
      size_t a = 0, b = 0;
      std::string si(text.substr(0, slash)), sn(text.substr(slash + 1));
      i = std::stoll(si, &a);
      n = std::stoll(sn, &b);
      if (a != si.size() || b != sn.size()) i = -1;
    } catch (const std::exception&) {
      i = -1;
    }
  }
  if (i < 0 || n < 1 || i >= n)
    fail("sweep", fmt::format("--shard expects i/n with 0 <= i < n (e.g. 0/2), got '{}'", text));
  return {i, n};
}

int64_t parse_size(std::string_view text, std::string_view what) {
  std::string s(text);
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    v = -1;
  }
  std::string unit = s.substr(std::min(used, s.size()));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mul = -1;
  if (unit.empty() || unit == "B") mul = 1;
  for (auto [u, m] : {std::pair{"K", 1.0}, {"M", 2.0}, {"G", 3.0}, {"T", 4.0}})
    if (unit == u || unit == std::string(u) + "B" || unit == std::string(u) + "IB")
      mul = std::pow(1024.0, m);
  if (v < 0 || mul < 0 || !std::isfinite(v))
    fail("sweep",
         fmt::format("{} expects a byte count like 1000, 64M or 1.5GiB, got '{}'", what, text));
  return static_cast<int64_t>(v * mul);
}

std::string git_revision() {
#ifdef OOMLESS_SOURCE_DIR
  std::string cmd =
      fmt::format("git -C '{}' describe --always --dirty 2>/dev/null", OOMLESS_SOURCE_DIR);
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {};
    std::string out;
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (!out.empty()) return out;
  }
#endif
  return "unknown";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<size_t> shard_indices(size_t total, int64_t index, int64_t count) {
  std::vector<size_t> out;
  for (size_t k = 0; k < total; ++k)
    if (static_cast<int64_t>(k % static_cast<size_t>(count)) == index) out.push_back(k);
  return out;
}

std::string dask_driver_path() {
  if (const char* p = std::getenv("OOMLESS_DASK_DRIVER"); p && *p) return p;
  // The build copies the Python package next to the binary (build/python/oomless/).
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::path(self_exe()).parent_path();
  for (fs::path p : {exe / "python" / "oomless" / "dask_sweep.py",
                     exe / ".." / "python" / "oomless" / "dask_sweep.py"})
    if (fs::exists(p, ec)) return p.string();
#ifdef OOMLESS_SOURCE_DIR
  fs::path src = fs::path(OOMLESS_SOURCE_DIR) / "python" / "oomless" / "dask_sweep.py";
  if (fs::exists(src, ec)) return src.string();
#endif
  fail("sweep", "cannot find python/oomless/dask_sweep.py (set OOMLESS_DASK_DRIVER)");
}

SweepPlan plan_sweep(const SweepOptions& o) {
  if (o.mode != "query" && o.mode != "run")
    fail("sweep", fmt::format("unknown --mode '{}' (expected query or run)", o.mode));
  if (o.engine != "local" && o.engine != "dask")
    fail("sweep", fmt::format("unknown --engine '{}' (expected local or dask)", o.engine));
  if (o.jobs < 0) fail("sweep", fmt::format("--jobs expects 0 or more, got {}", o.jobs));
  if (o.engine == "dask" && o.scheduler.empty() == o.scheduler_file.empty())
    fail("sweep", "--engine dask needs --scheduler tcp://HOST:PORT or --scheduler-file FILE");
  if (o.engine != "dask" && (!o.scheduler.empty() || !o.scheduler_file.empty()))
    fail("sweep", "--scheduler and --scheduler-file go with --engine dask");
  if (!o.scheduler_file.empty() && !std::filesystem::exists(o.scheduler_file))
    fail("sweep", fmt::format("--scheduler-file {} does not exist", o.scheduler_file));
  std::vector<std::string> policies;
  if (o.policy == "both")
    policies = {"strict", "auto"};
  else
    policies = {o.policy};
  for (const auto& p : policies) find_policy(p);  // unknown policies fail here, up front
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    fail("sweep", fmt::format("bad shard {}/{}", o.shard_index, o.shard_count));
  std::vector<std::string> op_names;
  for (const auto& name : o.ops) op_names.emplace_back(ops::find_op(name).name);
  device::Profile profile =
      device::with_message_format(device::load_profile(o.device), o.message_format);
  Suite suite = load_suite(o.suite_file);

  SweepPlan plan;
  SweepMeta& m = plan.meta;
  m.suite = suite.name;
  m.suite_file = suite.file;
  m.device = profile.name;
  m.mode = o.mode;
  m.policies = policies;
  if (o.shard_count > 1) m.shards = {fmt::format("{}/{}", o.shard_index, o.shard_count)};
  for (const auto& n : op_names) m.filters.push_back("--op " + n);
  if (o.max_bytes) m.filters.push_back(fmt::format("--max-bytes {}", *o.max_bytes));
  if (!o.message_format.empty())
    m.filters.push_back("--tt-metal-format " + profile.message_format.name());
  if (o.run_max_bytes && o.mode == "run")
    m.filters.push_back(
        fmt::format("--run-max-bytes {} (larger cases planned, not run)", *o.run_max_bytes));
  m.suite_cases = static_cast<int64_t>(suite.cases.size());
  m.seed_reported_oom = suite.seed_reported_oom;
  m.l1_banks = profile.l1_banks;
  m.l1_bank_size = profile.l1_bank_size();
  m.dram_banks = profile.dram_banks;
  m.dram_bank_size = profile.dram_allocatable();
  m.git_revision = git_revision();
  m.started = utc_now();
  m.label = o.label;

  plan.setup.device = o.device;
  plan.setup.message_format = o.message_format;
  if (std::filesystem::is_regular_file(o.device)) {
    // Workers elsewhere (Dask) get the profile itself, not a path.
    std::ifstream in(o.device);
    std::stringstream ss;
    ss << in.rdbuf();
    plan.setup.device_json = ss.str();
  }
  plan.setup.verify_samples = o.verify_samples;
  plan.setup.seed = o.seed;
  if (const char* f = std::getenv("OOMLESS_SWEEP_FAULT")) plan.setup.fault = f;
  // Run mode: the local workers share this machine's host budget (Dask workers
  // each probe their own).
  if (o.mode == "run" && o.engine == "local")
    plan.setup.host_budget = host_budget::default_budget() / std::max(1, o.jobs);

  // Filter (ops, then size), then shard what is left: shards of the same
  // filters partition the same list.
  struct Kept {
    const SuiteCase* sc;
    CaseResult base;
    std::string bad_call;
  };
  std::vector<Kept> kept;
  for (const auto& sc : suite.cases) {
    if (!op_names.empty() && std::find(op_names.begin(), op_names.end(), sc.op) == op_names.end()) {
      // The suite may spell an op by alias.
      std::string canonical;
      try {
        canonical = std::string(ops::find_op(sc.op).name);
      } catch (const InvalidArgument&) {
      }
      if (std::find(op_names.begin(), op_names.end(), canonical) == op_names.end()) continue;
    }
    Kept k{&sc, base_result(suite, sc), {}};
    k.base.device = profile.name;
    k.base.mode = o.mode;
    k.base.git_revision = m.git_revision;
    try {
      plan::CallSpec call = to_call(sc);
      measure_footprint(call, profile, k.base);
    } catch (const std::exception& e) {
      k.bad_call = e.what();
    }
    if (o.max_bytes && k.base.bytes_requested > *o.max_bytes) continue;
    if (o.run_max_bytes && k.base.bytes_requested > *o.run_max_bytes) k.base.mode = "query";
    kept.push_back(std::move(k));
  }
  for (size_t k : shard_indices(kept.size(), o.shard_index, o.shard_count)) {
    for (const auto& pol : policies) {
      WorkItem w;
      w.key = static_cast<int64_t>(plan.items.size());
      w.base = kept[k].base;
      w.base.policy = pol;
      w.call_out_memory = kept[k].sc->out_memory;
      w.bad_call = kept[k].bad_call;
      plan.items.push_back(std::move(w));
    }
  }

  nlohmann::json v{{"suite", suite.name},    {"suite_digest", suite.digest},
                   {"device", profile.name}, {"policies", policies},
                   {"mode", o.mode},         {"filters", m.filters},
                   {"shards", m.shards},     {"samples", o.verify_samples},
                   {"seed", o.seed}};
  if (!plan.setup.device_json.empty())
    v["device_digest"] = fmt::format("{:016x}", std::hash<std::string>{}(plan.setup.device_json));
  plan.run_vector = v.dump();
  return plan;
}

namespace {

// The progress line over results arriving in any order.
struct Streamed {
  Progress progress;
  int64_t done = 0;
  Streamed(int64_t total, bool on) : progress(total, on) {}
  void add(const CaseResult& r) {
    progress.update(done++, fmt::format("{} {} {}", r.policy, r.id, shapes_str(r.shapes_as_given)));
  }
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::string user_name() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return {};
}

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  g_sweep_stop = true;
}

// SIGINT/SIGTERM stop handing out cases (the store stays consistent and the
// run resumable) for as long as this lives; SIGPIPE from a dead worker is ignored.
struct StopSignals {
  struct sigaction old_int {
  }, old_term{}, old_pipe{};
  StopSignals() {
    g_sweep_stop = false;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGPIPE, &old_pipe, nullptr);
  }
};

}  // namespace

SweepRun run_sweep(const SweepOptions& o) {
  SweepPlan plan = plan_sweep(o);
  auto t0 = Clock::now();
  device::Profile profile = profile_of(plan.setup);
  SweepRun run;
  run.meta = plan.meta;
  run.meta.engine = "in-process";
  run.meta.workers = 1;
  Streamed progress(static_cast<int64_t>(plan.items.size()),
                    o.progress.value_or(progress_wanted()));
  for (const auto& w : plan.items) {
    run.results.push_back(run_item(profile, plan.setup, w));
    progress.add(run.results.back());
    run.meta.case_seconds += run.results.back().seconds;
  }
  progress.progress.finish();
  run.meta.finished = utc_now();
  run.meta.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return run;
}

StoredSweep run_stored_sweep(const SweepOptions& o, const std::string& db) {
  SweepPlan plan = plan_sweep(o);
  auto t0 = Clock::now();
  if (!is_postgres_url(db) && db.find("://") != std::string::npos)
    Store::open(db);  // fails with the message for an unsupported URL, before anything starts

  // 1. The engine: reach the Dask scheduler before anything is written.
  std::unique_ptr<DaskEngine> dask;
  int64_t workers = o.jobs;
  if (o.engine == "dask") {
    DaskOptions d;
    d.scheduler = o.scheduler;
    d.scheduler_file = o.scheduler_file;
    if (const char* py = std::getenv("OOMLESS_PYTHON"); py && *py) d.python = py;
    d.driver = dask_driver_path();
    d.binary = o.worker_binary.empty() ? self_exe() : o.worker_binary;
    d.case_timeout = o.case_timeout;
    d.batch_size = o.batch_size;
    d.max_workers = o.dask_workers;
    dask = std::make_unique<DaskEngine>(d);
    workers = dask->workers();
  }
  // 2. The store.
  std::unique_ptr<Store> store = Store::open(db);
  StoredSweep out;
  RunInfo& info = out.info;
  std::set<std::pair<std::string, std::string>> recorded;
  std::optional<RunInfo> earlier;
  if (o.resume) earlier = store->latest_run(plan.run_vector);
  if (earlier) {
    info = *earlier;
    recorded = store->recorded(info.id);
    out.skipped = static_cast<int64_t>(recorded.size());
  } else {
    info.uid = new_run_uid();
    info.run_vector = plan.run_vector;
    info.host = host_name();
    info.initiated_by = user_name();
    info.meta = plan.meta;
    info.meta.engine = o.engine;
    info.meta.workers = workers;
    std::vector<CaseResult> rows;
    for (const auto& w : plan.items) {
      rows.push_back(w.base);
      rows.back().status = "NOT_RUN";
    }
    store->begin_run(info, rows);
  }
  std::vector<WorkItem> todo;
  for (const auto& w : plan.items)
    if (!recorded.count({w.base.id, w.base.policy})) todo.push_back(w);

  // 3. Run, recording outcomes in small transactions as they arrive.
  std::vector<char> have(plan.items.size(), 0);
  std::vector<CaseResult> pending;
  auto last_commit = Clock::now();
  Streamed progress(static_cast<int64_t>(todo.size()), o.progress.value_or(progress_wanted()));
  auto flush = [&] {
    store->record(info.id, pending);
    pending.clear();
    last_commit = Clock::now();
  };
  OnResult on_result = [&](int64_t key, CaseResult&& r) {
    if (key < 0 || key >= static_cast<int64_t>(have.size()) || have[static_cast<size_t>(key)])
      return;  // a batch retried after a worker died may report a case twice: first one wins
    have[static_cast<size_t>(key)] = 1;
    progress.add(r);
    pending.push_back(std::move(r));
    if (Clock::now() - last_commit > std::chrono::milliseconds(250)) flush();
  };
  OnTick on_tick = [&] {
    if (!pending.empty() && Clock::now() - last_commit > std::chrono::milliseconds(250)) flush();
  };
  {
    StopSignals signals;
    try {
      if (dask) {
        dask->run(plan.setup, todo, on_result, on_tick);
      } else if (o.jobs == 0) {
        device::Profile profile = profile_of(plan.setup);
        for (const auto& w : todo) {
          if (g_sweep_stop) break;
          on_result(w.key, run_item(profile, plan.setup, w));
        }
      } else {
        LocalOptions lo;
        lo.jobs = o.jobs;
        lo.case_timeout = o.case_timeout;
        run_local(plan.setup, todo, lo, on_result, on_tick);
      }
    } catch (...) {
      progress.progress.finish();
      flush();  // what finished stays recorded; the rest is NOT_RUN for --resume
      throw;
    }
    progress.progress.finish();
    flush();
    out.interrupted = g_sweep_stop;
  }

  // 4. Close the run and read it back: the reports are written from the store.
  SweepRun stored = store->load(info.id);
  SweepMeta& m = info.meta;
  m.finished = utc_now();
  m.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  m.engine = o.engine == "local" && o.jobs == 0 ? "in-process" : o.engine;
  m.workers = std::max<int64_t>(1, workers);
  m.case_seconds = 0;
  for (const auto& r : stored.results) m.case_seconds += r.seconds;
  info.status = run_status(stored.results, out.interrupted);
  store->finish_run(info);
  stored.meta = m;
  out.run = std::move(stored);
  for (const auto& r : store->runs())
    if (r.id != info.id && r.run_vector == info.run_vector && r.status != "running" &&
        r.status != "cancelled" && r.recorded == r.cases &&
        (r.meta.workers != m.workers || r.meta.engine != m.engine))
      out.comparable = r;  // the latest such run
  return out;
}

}  // namespace oomless::report
