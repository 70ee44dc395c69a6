#include "exec/planned.hpp"

#include <fmt/format.h>

#include <chrono>

#include "core/error.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::exec {

using Clock = std::chrono::steady_clock;

namespace {

RunResult run_chunked(const plan::Plan& plan, const plan::CallSpec& call,
                      const std::vector<Tensor>& inputs, device::Device& dev) {
  auto t0 = Clock::now();
  ops::OutputSpec out = plan::device_outputs(call);
  RunResult res;
  for (const auto& o : out.outputs)
    res.outputs.push_back(Tensor::empty(o.shape, host_dtype(o.dtype)));
  plan::Placement previous;  // the other buffer set of the double buffer
  for (int64_t c = 0; c < plan.num_chunks; ++c) {
    int64_t start = 0, length = 0;
    std::vector<std::pair<int64_t, int64_t>> in_ranges;  // halos for windowed ops
    plan::CallSpec cc = plan::chunk_call(plan, call, c, &start, &length, &in_ranges);
    cc.buffer_sets = 1;
    std::vector<Tensor> ins;
    for (size_t i = 0; i < inputs.size(); ++i) {
      int d = plan.axis.in_dims[i];
      ins.push_back(d >= 0 ? inputs[i].narrow(d, in_ranges[i].first, in_ranges[i].second)
                           : inputs[i]);
    }
    plan::Placement current;
    // The chunk's outputs are read back straight into their slices of the result.
    std::vector<Tensor> slices;
    for (const auto& t : res.outputs) slices.push_back(t.narrow(plan.axis.out_dim, start, length));
    RunResult r = run_strict(dev, cc, ins, &current, &slices);
    previous = std::move(current);  // frees the chunk before last
    for (size_t o = 0; o < r.outputs.size(); ++o)
      if (r.outputs[o].raw() != slices[o].raw())  // index outputs come back on their own
        ops::copy_into(slices[o], r.outputs[o], call.op->name);
    res.compute_seconds += r.compute_seconds;
    if (c == 0) res.placement = r.placement;
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  res.peak_l1_per_core = dev.peak_l1_per_core();
  res.peak_dram_per_bank = dev.peak_dram_per_bank();
  return res;
}

RunResult run_on_host(const plan::CallSpec& call, const std::vector<Tensor>& inputs) {
  auto t0 = Clock::now();
  // A planned run leaves the caller's inputs as they were: an output that is a
  // view of an input (silu_ writes through it) gets a copy of that input.
  std::vector<Tensor> ins = inputs;
  for (int v : plan::device_outputs(call).view_of)
    if (v >= 0) ins[static_cast<size_t>(v)] = ins[static_cast<size_t>(v)].clone();
  ops::OpCall c{*call.op, ins, call.args};
  RunResult res;
  res.outputs = call.op->exec(c);
  res.seconds = res.compute_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace

PlannedResult run_planned(const plan::Plan& plan, const plan::CallSpec& call,
                          const std::vector<Tensor>& inputs, const device::Profile& profile) {
  PlannedResult pr;
  pr.plan = plan;
  pr.peak_host_bytes = plan.host_bytes;  // the tensors (Python's host_bytes)
  if (plan.strategy == plan::Strategy::HostFallback) {
    pr.run = run_on_host(call, inputs);
    return pr;
  }
  if (plan.host_streamed)
    throw Error(fmt::format("[{}] internal: a host-streamed plan runs through run_streamed",
                            call.op->name));
  const device::Profile run_prof = plan::run_profile(plan, profile);
  device::Device dev(run_prof);
  if (plan.strategy == plan::Strategy::Chunked)
    pr.run = run_chunked(plan, call, inputs, dev);
  else
    pr.run = run_strict(dev, plan.device_call, inputs);
  // Proof, not promise: the allocator's peaks never exceed the capacities.
  if (pr.run.peak_l1_per_core > run_prof.l1_bank_size() ||
      pr.run.peak_dram_per_bank > run_prof.dram_allocatable())
    throw Error(
        fmt::format("[{}] planned run exceeded a capacity: peak L1 {} B/core of {} B, "
                    "peak DRAM {} B/bank of {} B",
                    call.op->name, pr.run.peak_l1_per_core, run_prof.l1_bank_size(),
                    pr.run.peak_dram_per_bank, run_prof.dram_allocatable()));
  return pr;
}

}  // namespace oomless::exec
