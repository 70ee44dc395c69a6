#include "report/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/error.hpp"
#include "ops/op.hpp"
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

namespace {

struct Prepared {
  const SuiteCase* sc;
  std::optional<plan::CallSpec> call;
  std::string bad_call;  // why the case's call could not be built
  CaseResult base;
};

void fail_assert(CaseResult& r, const std::string& message) {
  r.status = "FAIL_ASSERT_EXCEPTION";
  r.pass_kind.clear();
  r.message = message;
}

}  // namespace

SweepRun run_sweep(const SweepOptions& o) {
  if (o.mode != "query" && o.mode != "run")
    fail("sweep", fmt::format("unknown --mode '{}' (expected query or run)", o.mode));
  std::vector<std::string> policies;
  if (o.policy == "both")
    policies = {"strict", "auto"};
  else
    policies = {o.policy};
  std::vector<PolicyFn> fns;
  for (const auto& p : policies) fns.push_back(find_policy(p));  // auto fails here, up front
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    fail("sweep", fmt::format("bad shard {}/{}", o.shard_index, o.shard_count));
  std::vector<std::string> op_names;
  for (const auto& name : o.ops) op_names.emplace_back(ops::find_op(name).name);
  device::Profile profile =
      device::with_message_format(device::load_profile(o.device), o.message_format);
  Suite suite = load_suite(o.suite_file);

  SweepRun run;
  SweepMeta& m = run.meta;
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
  auto t0 = Clock::now();

  // Filter (ops, then size), then shard what is left: shards of the same
  // filters partition the same list.
  std::vector<Prepared> kept;
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
    Prepared p{&sc, std::nullopt, {}, base_result(suite, sc)};
    p.base.device = profile.name;
    p.base.mode = o.mode;
    p.base.git_revision = m.git_revision;
    try {
      p.call = to_call(sc);
      measure_footprint(*p.call, profile, p.base);
    } catch (const std::exception& e) {
      p.call.reset();
      p.bad_call = e.what();
    }
    if (o.max_bytes && p.base.bytes_requested > *o.max_bytes) continue;
    if (o.run_max_bytes && p.base.bytes_requested > *o.run_max_bytes) p.base.mode = "query";
    kept.push_back(std::move(p));
  }
  std::vector<Prepared*> mine;
  for (size_t k = 0; k < kept.size(); ++k)
    if (static_cast<int64_t>(k) % o.shard_count == o.shard_index) mine.push_back(&kept[k]);

  RunSettings settings{o.mode, o.verify_samples, o.seed};
  Progress progress(static_cast<int64_t>(mine.size() * policies.size()),
                    o.progress.value_or(progress_wanted()));
  int64_t step = 0;
  for (Prepared* p : mine) {
    for (size_t k = 0; k < policies.size(); ++k) {
      progress.update(step++, fmt::format("{} {} {}", policies[k], p->base.id,
                                          shapes_str(p->sc->shapes_as_given)));
      CaseResult r = p->base;
      r.policy = policies[k];
      r.timestamp = utc_now();
      auto c0 = Clock::now();
      if (!p->call) {
        fail_assert(r, p->bad_call);
      } else {
        try {
          RunSettings case_settings = settings;
          case_settings.mode = r.mode;
          fns[k](*p->call, profile, case_settings, r);
        } catch (const InvalidArgument& e) {
          fail_assert(r, e.what());
        } catch (const std::bad_alloc&) {
          fail_assert(r, "host out of memory (std::bad_alloc) while running the case");
        } catch (const std::exception& e) {
          fail_assert(r, e.what());
        }
      }
      r.seconds = std::chrono::duration<double>(Clock::now() - c0).count();
      run.results.push_back(std::move(r));
    }
  }
  progress.finish();
  m.finished = utc_now();
  m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return run;
}

}  // namespace oomless::report
