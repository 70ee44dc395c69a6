// How an op's outputs live on the device. A host view stays free on the device
// only when the device's pages are the same: same element order, same last dim
// and, in TILE layout, rows grouped into tiles the same way (TT-NN's reshape
// copies otherwise).
#pragma once
#include "ops/op.hpp"

namespace oomless::ops {

// True when output `i` of a call needs its own device buffer (and a program
// that writes it); false when it reuses an input's pages as they are.
bool needs_device_buffer(const OpDesc& op, const std::vector<TensorSpec>& inputs,
                         const OutputSpec& out, size_t i, const Args& args, Layout layout);

}  // namespace oomless::ops
