// `oomless merge`: shards of one sweep -> one results set, in suite order.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"
#include "report/sweep.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace fs = std::filesystem;

SweepRun combine_runs(std::vector<SweepRun> runs, const std::vector<std::string>& origins) {
  if (runs.empty()) fail("merge", "nothing to merge");
  SweepRun out;
  std::set<std::pair<std::string, std::string>> seen;  // (id, policy)
  std::set<std::string> revisions;
  std::set<int64_t> workers;
  std::set<std::string> engines;
  for (size_t k = 0; k < runs.size(); ++k) {
    SweepRun& run = runs[k];
    const std::string& d = origins[k];
    SweepMeta& m = out.meta;
    if (k == 0) {
      m = run.meta;
      m.shards.clear();
      m.seconds = 0;
      m.case_seconds = 0;
    } else {
      for (auto [what, a, b] : {std::tuple{"suite", m.suite, run.meta.suite},
                                {"device", m.device, run.meta.device},
                                {"mode", m.mode, run.meta.mode}})
        if (a != b)
          fail("merge", fmt::format("{} is from {} '{}', the others from '{}'", d, what, b, a));
      if (run.meta.filters != m.filters)
        fail("merge", fmt::format("{} was swept with other filters than the others", d));
      for (const auto& pol : run.meta.policies)
        if (std::find(m.policies.begin(), m.policies.end(), pol) == m.policies.end())
          m.policies.push_back(pol);
      m.started = std::min(m.started, run.meta.started);
      m.finished = std::max(m.finished, run.meta.finished);
    }
    for (const auto& s : run.meta.shards)
      if (std::find(m.shards.begin(), m.shards.end(), s) == m.shards.end()) m.shards.push_back(s);
    m.seconds += run.meta.seconds;
    m.case_seconds += run.meta.case_seconds;
    if (!run.meta.git_revision.empty()) revisions.insert(run.meta.git_revision);
    if (run.meta.workers) workers.insert(run.meta.workers);
    if (!run.meta.engine.empty()) engines.insert(run.meta.engine);
    for (auto& r : run.results)
      if (seen.insert({r.id, r.policy}).second) out.results.push_back(std::move(r));
  }
  out.meta.git_revision = join(std::vector<std::string>(revisions.begin(), revisions.end()), ",");
  out.meta.engine = join(std::vector<std::string>(engines.begin(), engines.end()), ",");
  out.meta.workers = 0;
  for (int64_t w : workers) out.meta.workers += w;  // shards ran side by side
  std::sort(out.meta.shards.begin(), out.meta.shards.end());
  std::stable_sort(out.results.begin(), out.results.end(),
                   [](const CaseResult& a, const CaseResult& b) {
                     if (a.seq != b.seq) return a.seq < b.seq;
                     return (a.policy == "strict") > (b.policy == "strict");
                   });
  return out;
}

SweepRun merge_runs(const std::vector<std::string>& dirs) {
  if (dirs.empty()) fail("merge", "give at least one results directory");
  std::vector<SweepRun> runs;
  for (const auto& d : dirs) {
    fs::path p = fs::path(d) / "results.json";
    if (!fs::exists(p)) fail("merge", fmt::format("{} has no results.json", d));
    runs.push_back(read_results_json(p.string()));
  }
  return combine_runs(std::move(runs), dirs);
}

namespace {

// The run vector without the shard: what the shards of one sweep share.
std::string sweep_vector(const std::string& run_vector) {
  auto j = nlohmann::json::parse(run_vector, nullptr, false);
  if (j.is_discarded()) return run_vector;
  j.erase("shards");
  return j.dump();
}

struct Source {
  RunInfo info;
  SweepRun run;
  std::string origin;
};

// A results directory written before stores existed: its results.json as a run.
Source from_results_json(const std::string& dir) {
  Source s;
  s.run = read_results_json((fs::path(dir) / "results.json").string());
  s.origin = dir;
  const SweepMeta& m = s.run.meta;
  nlohmann::json v{{"suite", m.suite}, {"device", m.device},   {"policies", m.policies},
                   {"mode", m.mode},   {"filters", m.filters}, {"shards", m.shards}};
  s.info.run_vector = v.dump();
  // The same file always maps to the same uid, so merging it twice copies it once.
  s.info.uid =
      fmt::format("json-{:016x}", std::hash<std::string>{}(v.dump() + m.started + m.finished));
  s.info.status = run_status(s.run.results, false);
  s.info.meta = m;
  return s;
}

}  // namespace

Merged merge_stores(const std::vector<std::string>& inputs, const std::string& dest,
                    const std::string& label) {
  if (inputs.empty()) fail("merge", "give at least one store or results directory");
  std::vector<Source> all;
  for (const auto& in : inputs) {
    std::string url = in;
    if (!is_postgres_url(in) && fs::is_directory(in)) {
      if (!fs::exists(fs::path(in) / "results.db")) {
        if (!fs::exists(fs::path(in) / "results.json"))
          fail("merge", fmt::format("{} has neither results.db nor results.json", in));
        all.push_back(from_results_json(in));
        continue;
      }
      url = (fs::path(in) / "results.db").string();
    } else if (!is_postgres_url(in) && !fs::exists(in)) {
      fail("merge", fmt::format("{} does not exist", in));
    }
    auto store = Store::open(url);
    std::vector<RunInfo> runs;
    for (auto& r : store->runs())
      if (label.empty() || r.meta.label == label) runs.push_back(std::move(r));
    if (runs.empty())
      fail("merge",
           fmt::format("{} has no run{}", in, label.empty() ? "" : " labelled '" + label + "'"));
    // The latest sweep of this input, and of it the latest run of each shard.
    std::string sweep = sweep_vector(runs.back().run_vector);
    std::map<std::string, const RunInfo*> latest;
    for (const auto& r : runs)
      if (sweep_vector(r.run_vector) == sweep) latest[r.run_vector] = &r;
    for (const auto& [vec, r] : latest) {
      Source s;
      s.info = *r;
      s.run = store->load(r->id);
      s.origin = fmt::format("{} (run {})", in, r->id);
      all.push_back(std::move(s));
    }
  }
  std::vector<SweepRun> runs;
  std::vector<std::string> origins;
  for (const auto& s : all) {
    runs.push_back(s.run);
    origins.push_back(s.origin);
  }
  Merged out;
  out.run = combine_runs(std::move(runs), origins);  // checks they are shards of one sweep
  auto store = Store::open(dest);
  std::set<std::string> uids;
  for (const auto& r : store->runs()) uids.insert(r.uid);
  for (const auto& s : all) {
    out.copied += uids.count(s.info.uid) ? 0 : 1;
    store->import_run(s.info, s.run);
    uids.insert(s.info.uid);
  }
  out.runs = static_cast<int64_t>(all.size());
  return out;
}

}  // namespace oomless::report
