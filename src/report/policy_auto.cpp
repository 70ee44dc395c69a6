// The auto policy: the planner chooses how the call fits (re-placed, streamed,
// chunked from host, host fallback); query mode stops at the plan, run mode
// runs it with data in the budgeted device's arenas and verifies it.
#include "exec/planned.hpp"
#include "report/policy.hpp"

namespace oomless::report {

void run_auto_policy(const plan::CallSpec& call, const device::Profile& profile,
                     const RunSettings& s, CaseResult& r) {
  plan::Plan p = plan::choose_plan(call, profile, {});
  r.status = "PASS";
  r.message.clear();
  r.failed_allocation.clear();
  r.pass_kind = std::string(plan::strategy_name(p.strategy));
  r.strategy = plan::plan_line(p);
  r.chunks = p.num_chunks;
  r.cb_bytes_per_core = p.check.cb_bytes_per_core;
  r.peak_l1_per_core = p.check.peak_l1_per_core;
  r.peak_dram_per_bank = p.check.peak_dram_per_bank;
  r.peak_host_bytes = p.host_bytes;
  if (s.mode != "run") return;
  std::vector<Tensor> inputs = exec::make_inputs(call, exec::Init::Rand, s.seed);
  exec::PlannedResult pr = exec::run_planned(p, call, inputs, profile);
  r.peak_l1_per_core = pr.run.peak_l1_per_core;
  r.peak_dram_per_bank = pr.run.peak_dram_per_bank;
  verify_case(call, inputs, pr.run.outputs, s, r);
}

}  // namespace oomless::report
