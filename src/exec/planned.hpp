// Runs a call under a plan (the auto policy): directly or re-placed on the
// device, chunk by chunk from host memory through DRAM, or on the host. Every
// device allocation goes through the allocator of a device whose capacities
// are the budgeted ones, so the peaks reported are what it saw. The caller's
// inputs are never changed (in-place ops return their result as an output).
#pragma once
#include "exec/runner.hpp"
#include "plan/planner.hpp"

namespace oomless::exec {

struct PlannedResult {
  plan::Plan plan;
  RunResult run;  // outputs, times and the allocator's peaks
  int64_t peak_host_bytes = 0;
};

PlannedResult run_planned(const plan::Plan& plan, const plan::CallSpec& call,
                          const std::vector<Tensor>& inputs, const device::Profile& profile);

}  // namespace oomless::exec
