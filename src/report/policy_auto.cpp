// The auto policy: the planner chooses how the call fits (re-placed, streamed,
// chunked from host, host fallback); query mode stops at the plan, run mode
// runs it with data in the budgeted device's arenas and verifies it.
#include <fmt/format.h>

#include "core/error.hpp"
#include "exec/planned.hpp"
#include "exec/streamed.hpp"
#include "report/policy.hpp"

namespace oomless::report {

void run_auto_policy(const plan::CallSpec& call, const device::Profile& profile,
                     const RunSettings& s, CaseResult& r) {
  plan::Plan p = plan::choose_plan(call, profile, {});
  std::string host_note;
  if (s.mode == "run" && s.host_budget > 0) {
    // With data, the host budget decides too: tensors whole, or streamed.
    plan::Budgets b;
    b.host = s.host_budget;
    b.host_streaming = true;
    try {
      p = plan::choose_plan(call, profile, b);
    } catch (const HostOutOfMemory& e) {
      host_note = e.what();
    }
  }
  r.status = "PASS";
  r.message.clear();
  r.failed_allocation.clear();
  r.pass_kind = std::string(plan::strategy_name(p.strategy));
  r.strategy = plan::plan_line(p);
  r.chunks = p.num_chunks;
  r.cb_bytes_per_core = p.check.cb_bytes_per_core;
  r.peak_l1_per_core = p.check.peak_l1_per_core;
  r.peak_dram_per_bank = p.check.peak_dram_per_bank;
  r.peak_host_bytes = p.host_streamed ? p.host_peak_bytes : p.host_bytes;
  if (s.mode != "run") return;
  if (!host_note.empty()) {
    // Planned, not run: the host cannot hold it (the mode says so).
    r.mode = "query";
    r.message = "not run with data: " + host_note;
    return;
  }
  if (p.host_streamed) {
    std::vector<exec::StreamInput> sources(call.inputs.size());
    for (auto& src : sources) src.seed = s.seed;
    exec::StreamedResult sr =
        exec::run_streamed(p, call, sources, {}, profile, s.verify_samples, s.seed);
    r.peak_l1_per_core = sr.planned.run.peak_l1_per_core;
    r.peak_dram_per_bank = sr.planned.run.peak_dram_per_bank;
    r.max_abs_error = sr.verify.max_abs_error;
    r.verify_checked = sr.verify.checked;
    r.verify_failed = sr.verify.failed;
    if (!sr.verify.ok()) {
      r.status = "FAIL_ASSERT_EXCEPTION";
      r.pass_kind.clear();
      r.message = fmt::format("verification failed: {} of {} checked elements differ; first: {}",
                              sr.verify.failed, sr.verify.checked, sr.verify.first_failure);
    }
    return;
  }
  std::vector<Tensor> inputs = exec::make_inputs(call, exec::Init::Rand, s.seed);
  exec::PlannedResult pr = exec::run_planned(p, call, inputs, profile);
  r.peak_l1_per_core = pr.run.peak_l1_per_core;
  r.peak_dram_per_bank = pr.run.peak_dram_per_bank;
  verify_case(call, inputs, pr.run.outputs, s, r);
}

}  // namespace oomless::report
