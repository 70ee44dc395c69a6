#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace oomless::cli {

static int run_query(const CallOptions& o) {
  plan::CallSpec call = o.to_call();
  device::Profile profile = o.profile();
  plan::QueryResult r = plan::precheck(call, profile);
  if (o.json) {
    fmt::print("{}\n", plan::to_json(r, call, profile).dump(2));
    return r.fits ? 0 : 3;
  }
  fmt::print("{} ({}) on {}: {} L1 banks x {} B, {} DRAM banks x {} B\n", call.op->name,
             call.op->aten, profile.name, profile.l1_banks, profile.l1_bank_size(),
             profile.dram_banks, profile.dram_allocatable());
  fmt::print("  {:<56} {:<8} {:>14} {:>6} {:>14}  {}\n", "allocation", "type", "bytes", "banks",
             "bytes/bank", "fits");
  for (const auto& a : r.allocations) {
    if (a.is_view || a.on_host) {
      fmt::print("  {:<56} {:<8} {:>14} {:>6} {:>14}  {}\n", a.what, "-", 0, "-", 0,
                 a.is_view ? "view" : "host");
      continue;
    }
    std::string what = a.what + " " + shape_str(a.shape);
    fmt::print("  {:<56} {:<8} {:>14} {:>6} {:>14}  {}\n", what,
               device::buffer_type_name(a.buffer_type), a.is_free ? -a.bytes : a.bytes, a.banks,
               a.is_free ? -a.bytes_per_bank : a.bytes_per_bank,
               a.is_free ? "freed"
               : a.fits  ? "yes"
                         : "NO");
  }
  for (const auto& p : r.programs) {
    std::string list;
    for (const auto& cb : p.cbs)
      list +=
          fmt::format("{}{} {}x{} B", list.empty() ? "" : ", ", cb.name, cb.pages, cb.page_size);
    fmt::print("  program {}: CBs {} B per core{}{}\n", p.name, p.cb_bytes_per_core,
               list.empty() ? "" : " (" + list + ")",
               !p.reached ? "  (not reached)"
               : p.fits   ? ""
                          : "  NO");
  }
  for (const auto& n : r.notes) fmt::print("  note: {}\n", n);
  for (const auto& n : r.not_modelled) fmt::print("  not modelled: {}\n", n);
  if (!r.cbs.empty() && r.programs.empty()) {
    std::string list;
    for (const auto& cb : r.cbs)
      list +=
          fmt::format("{}{} {}x{} B", list.empty() ? "" : ", ", cb.name, cb.pages, cb.page_size);
    fmt::print("  circular buffers per core: {} B ({})\n", r.cb_bytes_per_core, list);
  }
  fmt::print("  peak L1 per core: {} B of {} B; peak DRAM per bank: {} B of {} B\n",
             r.peak_l1_per_core, profile.l1_size, r.peak_dram_per_bank, profile.dram_bank_size);
  if (profile.l1_small_size > 0 || r.l1_small.peak_allocated > 0)
    fmt::print("  peak L1_SMALL per bank: {} B of {} B\n", r.l1_small.peak_allocated,
               profile.l1_small_size);
  for (size_t i = 0; i < r.outputs.outputs.size(); ++i)
    fmt::print("  output {}: {} {}\n", i, shape_str(r.outputs.outputs[i].shape),
               dtype_name(r.outputs.outputs[i].dtype));
  if (r.fits) {
    fmt::print("  verdict: {} (fits)\n", plan::status_name(r.status));
    return 0;
  }
  fmt::print("  verdict: {}\n{}\n", plan::status_name(r.status), r.error);
  // The allocator's statistics, when the profile's words leave them out.
  if (auto at = r.detail.find(", but bank size is ");
      at != r.detail.npos && r.error.find("(allocated: ") == r.error.npos)
    fmt::print("  ({})\n", r.detail.substr(at + 2));
  return 3;
}

}  // namespace oomless::cli

namespace oomless::cli {

void add_query(CLI::App& app, Registry& reg, Keep& keep) {
  auto& o = keep.make<CallOptions>();
  CLI::App* sub = app.add_subcommand(
      "query",
      "pre-check one op call: replay its device allocations and predict any OOM with "
      "tt-metal's message (allocates nothing, runs nothing); exit 3 when it does not fit");
  o.add_to(*sub);
  reg.push_back({sub, [&o] { return run_query(o); }});
}

}  // namespace oomless::cli
