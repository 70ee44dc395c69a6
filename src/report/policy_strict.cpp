// The strict policy: the requested placement, as TT-NN would make it. Query mode
// stops at the pre-check; run mode then places real data in the device arenas,
// runs the kernel and verifies it, but only for calls that fit: a call that does
// not fit is never materialised.
#include <fmt/format.h>

#include "core/host_budget.hpp"
#include "exec/runner.hpp"
#include "exec/verify.hpp"
#include "plan/planner.hpp"
#include "report/policy.hpp"

namespace oomless::report {

void verify_case(const plan::CallSpec& call, const std::vector<Tensor>& inputs_before,
                 const std::vector<Tensor>& outputs, const RunSettings& s, CaseResult& r) {
  ops::OpCall ref{*call.op, inputs_before, call.args};
  exec::VerifyResult v = exec::verify_outputs(ref, outputs, s.verify_samples, s.seed);
  r.max_abs_error = v.max_abs_error;
  r.verify_checked = v.checked;
  r.verify_failed = v.failed;
  if (!v.ok()) {
    r.status = "FAIL_ASSERT_EXCEPTION";
    r.pass_kind.clear();
    r.message = fmt::format("verification failed: {} of {} checked elements differ; first: {}",
                            v.failed, v.checked, v.first_failure);
  }
}

static void take_query(const plan::QueryResult& q, CaseResult& r) {
  r.status = std::string(plan::status_name(q.status));
  r.message = q.fits ? std::string() : q.error;
  r.failed_allocation.clear();
  if (!q.fits) {
    if (q.status == plan::Status::CbOutOfMem) {
      r.failed_allocation = "circular buffers";
    } else {
      for (const auto& a : q.allocations)
        if (!a.fits && !a.is_view) r.failed_allocation = a.what + " " + shape_str(a.shape);
    }
  }
  if (q.cb_bytes_per_core > 0) r.cb_bytes_per_core = q.cb_bytes_per_core;
  r.peak_l1_per_core = q.peak_l1_per_core;
  r.peak_dram_per_bank = q.peak_dram_per_bank;
}

void run_strict_policy(const plan::CallSpec& call, const device::Profile& profile,
                       const RunSettings& s, CaseResult& r) {
  r.strategy = "as requested";
  r.chunks = 1;
  plan::QueryResult q = plan::precheck(call, profile);
  take_query(q, r);
  if (q.fits) r.pass_kind = "direct";
  if (s.mode != "run" || !q.fits) return;
  if (s.host_budget > 0) {
    // Strict holds its tensors whole: a case the host cannot hold is only pre-checked.
    plan::Plan p;
    p.device_call = call;
    p.check = q;
    int64_t need = plan::host_need_whole(p, call, profile);
    if (need > s.host_budget) {
      r.mode = "query";
      r.message = fmt::format("not run with data: [{}] {}", call.op->name,
                              host_budget::shortfall(need, s.host_budget, "the host budget"));
      return;
    }
  }

  std::vector<Tensor> inputs = exec::make_inputs(call, exec::Init::Rand, s.seed);
  device::Device dev(profile);
  exec::RunResult run;
  try {
    run = exec::run_strict(dev, call, inputs);
  } catch (const device::OutOfMemory& e) {
    // The pre-check said it fits; a run that disagrees is a bug worth seeing.
    r.status = e.buffer_type == device::BufferType::DRAM     ? "FAIL_DRAM_OUT_OF_MEM"
               : e.kind == device::OutOfMemory::Kind::Buffer ? "FAIL_L1_OUT_OF_MEM"
                                                             : "FAIL_CB_OUT_OF_MEM";
    r.pass_kind.clear();
    r.message = std::string(e.what()) + " (run disagrees with the pre-check)";
    return;
  }
  r.peak_l1_per_core = run.peak_l1_per_core;
  r.peak_dram_per_bank = run.peak_dram_per_bank;
  int64_t host = 0;
  for (const auto& t : inputs) host += static_cast<int64_t>(t.nbytes());
  for (const auto& t : run.outputs) host += static_cast<int64_t>(t.nbytes());
  r.peak_host_bytes = host;
  verify_case(call, inputs, run.outputs, s, r);
}

}  // namespace oomless::report
