#include "exec/streamed.hpp"

#include <fmt/format.h>

#include <chrono>

#include "core/error.hpp"

namespace oomless::exec {

using Clock = std::chrono::steady_clock;

namespace {

// Input i's part for a chunk: along its cut dim, or all of it (dim < 0).
Tensor chunk_input(const plan::CallSpec& call, size_t i, const StreamInput& src, int64_t dim,
                   std::pair<int64_t, int64_t> range) {
  DType dt = host_dtype(call.inputs[i].dtype);
  if (!src.npy)
    return make_input_range(call, i, src.init, src.seed, dim, range.first, range.second);
  const Shape& s = src.npy->shape();
  if (dim < 0) return src.npy->read(0, 0, s.empty() ? 1 : s[0], dt);
  return src.npy->read(dim, range.first, range.second, dt);
}

void merge(VerifyResult& into, const VerifyResult& v, int64_t chunk) {
  if (!v.ok() && into.ok())
    into.first_failure = fmt::format("chunk {}: {}", chunk, v.first_failure);
  into.checked += v.checked;
  into.failed += v.failed;
  into.max_abs_error = std::max(into.max_abs_error, v.max_abs_error);
}

}  // namespace

StreamedResult run_streamed(const plan::Plan& plan, const plan::CallSpec& call,
                            const std::vector<StreamInput>& inputs,
                            const std::vector<NpyWriter*>& outputs, const device::Profile& profile,
                            int64_t verify_samples, uint64_t seed, const std::atomic<bool>* stop) {
  if (!plan.host_streamed || plan.strategy != plan::Strategy::Chunked)
    throw Error(fmt::format("[{}] internal: run_streamed needs a host-streamed chunked plan",
                            call.op->name));
  if (inputs.size() != call.inputs.size())
    fail(call.op->name,
         fmt::format("{} input sources for {} inputs", inputs.size(), call.inputs.size()));
  auto t0 = Clock::now();
  StreamedResult sr;
  sr.planned.plan = plan;
  sr.planned.peak_host_bytes = plan.host_peak_bytes;
  device::Device dev(plan::run_profile(plan, profile));
  RunResult& res = sr.planned.run;
  // About verify_samples per output over the whole run, spread over the chunks.
  int64_t per_chunk =
      verify_samples > 0
          ? std::max<int64_t>(2, (verify_samples + plan.num_chunks - 1) / plan.num_chunks)
          : verify_samples;
  plan::Placement previous;  // the other buffer set of the double buffer
  for (int64_t c = 0; c < plan.num_chunks; ++c) {
    if (stop && stop->load())
      throw Interrupted(
          fmt::format("[{}] interrupted after {} of {} chunks", call.op->name, c, plan.num_chunks));
    int64_t start = 0, length = 0;
    std::vector<std::pair<int64_t, int64_t>> in_ranges;
    plan::CallSpec cc = plan::chunk_call(plan, call, c, &start, &length, &in_ranges);
    cc.buffer_sets = 1;
    std::vector<Tensor> ins;
    for (size_t i = 0; i < inputs.size(); ++i)
      ins.push_back(chunk_input(call, i, inputs[i], plan.axis.in_dims[i], in_ranges[i]));
    plan::Placement current;
    RunResult r = run_strict(dev, cc, ins, &current);
    previous = std::move(current);  // frees the chunk before last
    if (verify_samples >= 0) {
      ops::OpCall ref{*call.op, ins, cc.args};
      merge(sr.verify, verify_outputs(ref, r.outputs, per_chunk, seed + static_cast<uint64_t>(c)),
            c);
    }
    for (size_t o = 0; o < r.outputs.size() && o < outputs.size(); ++o)
      if (outputs[o]) outputs[o]->write(plan.axis.out_dim, start, r.outputs[o]);
    res.compute_seconds += r.compute_seconds;
    if (c == 0) res.placement = r.placement;
    ++sr.chunks;
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  res.peak_l1_per_core = dev.peak_l1_per_core();
  res.peak_dram_per_bank = dev.peak_dram_per_bank();
  return sr;
}

}  // namespace oomless::exec
