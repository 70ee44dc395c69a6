// Unary ops that TT-NN runs as composites of device programs, each with its own
// full-size output: the intermediate outputs stay live until the composite
// returns, so the pre-check must place them where TT-NN does.
//
// Followed: tenstorrent/tt-metal ttnn/cpp/ttnn/operations/eltwise/unary/device/
// unary_composite_op.cpp as of mid-2025 (the seed's build):
//   _hardtanh(a, low, high)      -> ExecuteUnaryCompositeClamp::invoke(a, low, high)
//   clamp(a, min, max), floats:  max only -> where(le(a, max), a, max)
//                                min only -> where(ge(a, min), a, min)
//                                min > max -> full_like(a, max)
//                                otherwise a_max = minimum(a, max); then
//                                relu(a_max) if min == 0 else maximum(a_max, min)
// The seed's hardtanh log shows both programs allocating: [1,768,136,240]
// fails in ExecuteMinimum's output, [1,1152,136,120] (two buffers fit, three
// do not) in ExecuteMaximum's (ssinghal/test_results_yolov12x_2176x3840/
// test_hardtanh_results.txt).
#pragma once
#include "ops/op.hpp"

namespace oomless::ops {

// hardtanh, clamp and clamp_min (ttnn.clip with min only).
MemScript clamp_composite_steps(const OpDesc& op, const std::vector<TensorSpec>& in,
                                const OutputSpec& out, const Args& args, const StepContext& ctx);

}  // namespace oomless::ops
