// What a call asks of the device, computed from page counts alone: lets the
// reports show the full request even when the pre-check stops at input 0.
#include <algorithm>

#include "core/error.hpp"
#include "ops/device_cost.hpp"
#include "report/policy.hpp"

namespace oomless::report {

using device::BufferType;

static int64_t logical_bytes(const ops::TensorSpec& t) {
  int64_t n = numel(t.shape);
  return t.dtype == DType::BFP8_B ? n * 1088 / 1024
                                  : n * static_cast<int64_t>(element_size(t.dtype));
}

void measure_footprint(const plan::CallSpec& call, const device::Profile& profile, CaseResult& r) {
  bool l1 = call.in_memory == BufferType::L1;
  r.bank_size = l1 ? profile.l1_bank_size() : profile.dram_allocatable();
  r.banks = l1 ? profile.l1_banks : profile.dram_banks;
  r.logical_bytes = r.bytes_requested = r.largest_buffer_bytes = r.bytes_per_bank = 0;
  r.cb_bytes_per_core = 0;
  device::Device dev(profile, /*backed=*/false);
  auto add = [&](const ops::TensorSpec& t, BufferType type) {
    PageSpec ps = page_spec(t.shape, t.dtype, call.layout);
    device::Footprint f = dev.footprint(type, call.memory_layout, ps.num_pages, ps.page_size);
    r.logical_bytes += logical_bytes(t);
    r.bytes_requested += f.total_bytes();
    r.largest_buffer_bytes = std::max(r.largest_buffer_bytes, f.total_bytes());
    if (type == call.in_memory) r.bytes_per_bank += f.bytes_per_bank;
  };
  for (const auto& t : call.inputs) add(t, call.in_memory);
  ops::OutputSpec out;
  try {
    out = plan::device_outputs(call);
  } catch (const InvalidArgument&) {
    return;  // the inputs are all a bad call places
  }
  BufferType out_type = call.out_memory.value_or(call.in_memory);
  bool runs_program = call.inputs.empty();
  for (size_t i = 0; i < out.outputs.size(); ++i) {
    if (!ops::needs_device_buffer(*call.op, call.inputs, out, i, call.args, call.layout)) continue;
    runs_program = true;
    add(out.outputs[i], out_type);
  }
  if (!runs_program) return;
  ops::DeviceContext ctx{call.layout, &profile};
  std::vector<ops::CircularBuffer> cbs;
  try {
    cbs = call.op->cbs(*call.op, call.inputs, out, call.args, ctx);
  } catch (const InvalidArgument&) {
    return;
  }
  // Placed as Device::allocate_cbs places them: upward from the unreserved base,
  // each start aligned to the DRAM alignment.
  int64_t align = profile.dram_alignment, end = profile.l1_unreserved_base;
  for (const auto& cb : cbs) end = round_up(end, align) + cb.bytes();
  r.cb_bytes_per_core = end - profile.l1_unreserved_base;
}

}  // namespace oomless::report
