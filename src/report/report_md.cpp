// report.md: GitHub-renderable tables per operator and per shape, the argument
// decisions, the non-memory failures and the slowest cases.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "report/aggregate.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace {

std::string md(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '|')
      o += "\\|";
    else if (c == '\n' || c == '\r')
      o += ' ';
    else
      o += c;
  }
  return o;
}

std::string auto_cell(const Tally& t, const Aggregate& a) {
  return a.has_auto ? fmt::format("{}/{} PASS", t.pass(), t.cases) : a.no_auto;
}

std::string placed(const CaseResult& r) {
  return r.shapes.empty() ? r.shape_key() : shapes_str(r.shapes);
}

}  // namespace

std::string report_md(const SweepRun& run) {
  const SweepMeta& m = run.meta;
  Aggregate a = aggregate(run.results, m);
  std::string out;
  out += fmt::format("# oomless sweep: `{}` suite on `{}`\n\n", m.suite, m.device);
  out += fmt::format(
      "Generated {} from git `{}`; mode `{}`; policies {}; {} L1 banks x {} B, {} DRAM banks x {} "
      "B. Every case is counted once; sizes are padded as the device stores them.\n\n",
      m.finished, m.git_revision, m.mode,
      [&] {
        std::string s;
        for (const auto& p : m.policies) s += (s.empty() ? "`" : ", `") + p + "`";
        return s;
      }(),
      m.l1_banks, grouped(m.l1_bank_size), m.dram_banks, grouped(m.dram_bank_size));
  if (!m.filters.empty() || !m.shards.empty()) {
    std::string f;
    for (const auto& x : m.filters) f += " `" + x + "`";
    for (const auto& x : m.shards) f += " shard `" + x + "`";
    out += fmt::format("Selection:{} ({} of the suite's {} cases).\n\n", f,
                       a.has_strict ? a.strict_total.cases : a.auto_total.cases, m.suite_cases);
  }

  out +=
      "## Totals\n\n| status | strict (all cases) | strict (cases the seed's run executed) | auto "
      "|\n"
      "|---|---:|---:|---:|\n";
  for (const auto& s : a.statuses)
    out += fmt::format("| {} | {} | {} | {} |\n", s, a.strict_total.count(s),
                       a.strict_seed_run.count(s),
                       a.has_auto ? std::to_string(a.auto_total.count(s)) : a.no_auto);
  out += fmt::format("| **total** | **{}** | **{}** | {} |\n\n", a.strict_total.cases,
                     a.strict_seed_run.cases,
                     a.has_auto ? std::to_string(a.auto_total.cases) : a.no_auto);

  out +=
      "## Per operator\n\n"
      "| operator | aten | cases | PASS | L1 OOM | DRAM OOM | CB OOM | ASSERT | OOM in seed run "
      "| seed's summary said (/2) | worst OOM case (as placed) | its padded request | auto |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n";
  for (const auto& o : a.ops) {
    const Tally& t = o.strict;
    auto said = m.seed_reported_oom.find(o.op);
    out += fmt::format(
        "| {} | `{}` | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} |\n", o.op, o.aten,
        t.cases, t.pass(), t.count("FAIL_L1_OUT_OF_MEM"), t.count("FAIL_DRAM_OUT_OF_MEM"),
        t.count("FAIL_CB_OUT_OF_MEM"), t.count("FAIL_ASSERT_EXCEPTION"), o.strict_seed_run.oom(),
        o.strict_seed_run.cases,
        said == m.seed_reported_oom.end() ? std::string("-")
                                          : fmt::format("{} ({})", said->second, said->second / 2),
        o.worst ? md(placed(*o.worst)) : "-", o.worst ? human_bytes(o.worst->bytes_requested) : "-",
        auto_cell(o.autop, a));
  }

  out +=
      "\n## Per shape\n\n"
      "Shapes as the seed's tests list them (first input), largest device buffer first.\n\n"
      "| shape | largest buffer (padded) | unpadded (bf16) | bytes per bank | cases | PASS | OOM "
      "| ASSERT | operators with OOM | auto |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n";
  for (const auto& s : a.shapes) {
    std::string ops = join(s.ops_oom, ", ");
    out += fmt::format("| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", s.shape,
                       human_bytes(s.largest_buffer_bytes), human_bytes(s.logical_bytes),
                       grouped(s.bytes_per_bank), s.strict.cases, s.strict.pass(), s.strict.oom(),
                       s.strict.count("FAIL_ASSERT_EXCEPTION"), ops.empty() ? "-" : ops,
                       auto_cell(s.autop, a));
  }

  out +=
      "\n## Argument decisions\n\nWhere the seed's test passed missing or broken arguments, "
      "the suite passes what the op needs (from `args_note`).\n\n"
      "| operator | arguments (first case) | note |\n|---|---|---|\n";
  for (const auto& o : a.ops) {
    if (o.args_notes.empty()) continue;
    const CaseResult* first = nullptr;
    for (const auto* r : a.strict)
      if (r->op == o.op) {
        first = r;
        break;
      }
    std::string args;
    if (first)
      for (const auto& x : first->args) args += (args.empty() ? "`" : " `") + x + "`";
    std::string notes;
    for (size_t i = 0; i < o.args_notes.size() && i < 2; ++i)
      notes += (i ? "; " : "") + o.args_notes[i];
    if (o.args_notes.size() > 2) notes += fmt::format(" (+{} similar)", o.args_notes.size() - 2);
    out += fmt::format("| {} | {} | {} |\n", o.op, md(args), md(notes));
  }

  // Non-memory failures, grouped by op and message.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> asserts;
  for (const auto* r : a.strict)
    if (r->status == "FAIL_ASSERT_EXCEPTION") asserts[{r->op, r->message}].push_back(r->id);
  for (const auto* r : a.autop)
    if (r->status == "FAIL_ASSERT_EXCEPTION")
      asserts[{r->op + " (auto)", r->message}].push_back(r->id);
  if (!asserts.empty()) {
    out += "\n## FAIL_ASSERT_EXCEPTION cases\n\n| operator | cases | message |\n|---|---|---|\n";
    for (const auto& [key, ids] : asserts) {
      std::string list;
      for (size_t i = 0; i < ids.size() && i < 5; ++i) list += (i ? ", " : "") + ids[i];
      if (ids.size() > 5) list += fmt::format(" (+{})", ids.size() - 5);
      out += fmt::format("| {} | {} | {} |\n", key.first, list, md(key.second));
    }
  }

  std::vector<const CaseResult*> slow;
  for (const auto& r : run.results) slow.push_back(&r);
  std::stable_sort(slow.begin(), slow.end(), [](const CaseResult* x, const CaseResult* y) {
    return x->seconds > y->seconds;
  });
  out +=
      "\n## Slowest cases\n\n| case | policy | shapes (as placed) | status | seconds |\n"
      "|---|---|---|---|---:|\n";
  for (size_t i = 0; i < slow.size() && i < 10; ++i)
    out += fmt::format("| {} | {} | `{}` | {} | {:.3f} |\n", slow[i]->id, slow[i]->policy,
                       placed(*slow[i]), slow[i]->status, slow[i]->seconds);
  return out;
}

}  // namespace oomless::report
