// `oomless merge`: shards of one sweep -> one results set, in suite order.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "report/sweep.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace fs = std::filesystem;

SweepRun merge_runs(const std::vector<std::string>& dirs) {
  if (dirs.empty()) fail("merge", "give at least one results directory");
  SweepRun out;
  std::set<std::pair<std::string, std::string>> seen;  // (id, policy)
  std::set<std::string> revisions;
  bool first = true;
  for (const auto& d : dirs) {
    fs::path p = fs::path(d) / "results.json";
    if (!fs::exists(p)) fail("merge", fmt::format("{} has no results.json", d));
    SweepRun run = read_results_json(p.string());
    SweepMeta& m = out.meta;
    if (first) {
      m = run.meta;
      m.shards.clear();
      m.seconds = 0;
      first = false;
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
    if (!run.meta.git_revision.empty()) revisions.insert(run.meta.git_revision);
    for (auto& r : run.results)
      if (seen.insert({r.id, r.policy}).second) out.results.push_back(std::move(r));
  }
  out.meta.git_revision = join(std::vector<std::string>(revisions.begin(), revisions.end()), ",");
  std::sort(out.meta.shards.begin(), out.meta.shards.end());
  std::stable_sort(out.results.begin(), out.results.end(),
                   [](const CaseResult& a, const CaseResult& b) {
                     if (a.seq != b.seq) return a.seq < b.seq;
                     return (a.policy == "strict") > (b.policy == "strict");
                   });
  return out;
}

}  // namespace oomless::report
