#include "report/aggregate.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "report/policy.hpp"

namespace oomless::report {

void Tally::add(const CaseResult& r) {
  ++cases;
  ++by_status[r.status];
}

int64_t Tally::count(std::string_view status) const {
  auto it = by_status.find(status);
  return it == by_status.end() ? 0 : it->second;
}

int64_t Tally::oom() const {
  return count("FAIL_L1_OUT_OF_MEM") + count("FAIL_DRAM_OUT_OF_MEM") + count("FAIL_CB_OUT_OF_MEM");
}

std::string_view short_status(std::string_view s) {
  if (s == "PASS") return "PASS";
  if (s == "FAIL_L1_OUT_OF_MEM") return "L1 OOM";
  if (s == "FAIL_DRAM_OUT_OF_MEM") return "DRAM OOM";
  if (s == "FAIL_CB_OUT_OF_MEM") return "CB OOM";
  if (s == "FAIL_ASSERT_EXCEPTION") return "ASSERT";
  if (s == "FAIL_CRASH_HANG") return "CRASH/HANG";
  if (s == "NOT_RUN") return "NOT RUN";
  return s;
}

std::string_view status_colour(std::string_view s) {
  if (s == "PASS") return "#2da44e";
  if (s == "FAIL_L1_OUT_OF_MEM") return "#cf222e";
  if (s == "FAIL_DRAM_OUT_OF_MEM") return "#8250df";
  if (s == "FAIL_CB_OUT_OF_MEM") return "#e16f24";
  if (s == "FAIL_ASSERT_EXCEPTION") return "#6e7781";
  if (s == "FAIL_CRASH_HANG") return "#1f2328";
  return "#eaeef2";
}

// kStatuses always, then the other statuses present: known extras first.
static std::vector<std::string> listed_statuses(const std::vector<const Tally*>& tallies) {
  std::vector<std::string> out(std::begin(kStatuses), std::end(kStatuses));
  auto add = [&](std::string_view st) {
    if (std::find(out.begin(), out.end(), st) != out.end()) return;
    for (const Tally* t : tallies)
      if (t->count(st)) {
        out.emplace_back(st);
        return;
      }
  };
  for (auto st : kExtraStatuses) add(st);
  for (const Tally* t : tallies)
    for (const auto& kv : t->by_status) add(kv.first);
  return out;
}

std::string tally_str(const Tally& t) {
  std::string s;
  for (const auto& st : listed_statuses({&t})) {
    int64_t n = t.count(st);
    if (n) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", n, short_status(st));
  }
  return s.empty() ? "no cases" : s;
}

static void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

Aggregate aggregate(const std::vector<CaseResult>& results, const SweepMeta& meta) {
  Aggregate a;
  a.l1_bank_size = meta.l1_bank_size;
  a.dram_bank_size = meta.dram_bank_size;
  a.no_auto = auto_policy_available() ? "n/a (no auto run)" : "n/a (planner not built yet)";
  std::map<std::string, size_t> op_index, shape_index;
  for (const auto& r : results) {
    bool is_auto = r.policy == "auto";
    (is_auto ? a.autop : a.strict).push_back(&r);
    (is_auto ? a.auto_by_id : a.strict_by_id)[r.id] = &r;
    (is_auto ? a.auto_total : a.strict_total).add(r);
    if (r.ran_in_seed_run) (is_auto ? a.auto_seed_run : a.strict_seed_run).add(r);

    auto [oi, new_op] = op_index.try_emplace(r.op, a.ops.size());
    if (new_op) a.ops.push_back({r.op, r.aten});
    OpRow& o = a.ops[oi->second];
    (is_auto ? o.autop : o.strict).add(r);
    if (!is_auto) {
      if (r.ran_in_seed_run) o.strict_seed_run.add(r);
      if (is_oom(r.status) && (!o.worst || r.bytes_requested > o.worst->bytes_requested))
        o.worst = &r;
      if (!r.args_note.empty()) add_unique(o.args_notes, r.args_note);
    }

    std::string key = r.shape_key();
    auto [si, new_shape] = shape_index.try_emplace(key, a.shapes.size());
    if (new_shape) {
      ShapeRow row;
      row.shape = key;
      int64_t elems = r.shapes_as_given.empty() ? 0 : numel(r.shapes_as_given[0]);
      row.logical_bytes = elems * 2;
      a.shapes.push_back(row);
    }
    ShapeRow& s = a.shapes[si->second];
    (is_auto ? s.autop : s.strict).add(r);
    s.largest_buffer_bytes = std::max(s.largest_buffer_bytes, r.largest_buffer_bytes);
    s.bytes_per_bank = std::max(s.bytes_per_bank, r.bytes_per_bank);
    if (!is_auto) {
      if (is_oom(r.status))
        add_unique(s.ops_oom, r.op);
      else if (r.status == "PASS")
        add_unique(s.ops_ok, r.op);
      else
        add_unique(s.ops_assert, r.op);
    }
  }
  a.has_strict = !a.strict.empty();
  a.has_auto = !a.autop.empty();
  std::stable_sort(a.shapes.begin(), a.shapes.end(), [](const ShapeRow& x, const ShapeRow& y) {
    return x.largest_buffer_bytes > y.largest_buffer_bytes;
  });
  a.statuses = listed_statuses({&a.strict_total, &a.auto_total});
  return a;
}

}  // namespace oomless::report
