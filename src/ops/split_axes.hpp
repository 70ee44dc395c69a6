// How a call may be cut into independent chunks: the output dims along which
// slices of the output depend only on matching slices of the inputs. The
// planner reads this from the descriptor; it never looks at op names.
#pragma once
#include <vector>

#include "ops/op.hpp"

namespace oomless::ops {

struct SplitAxis {
  int out_dim = 0;           // a dim of every output (all outputs share it)
  std::vector<int> in_dims;  // per input: the dim sliced with it, or -1 (used whole)
};

// Outermost first. Empty: the call cannot be chunked (views, batch-norm
// statistics, dropout's global element index, splits).
std::vector<SplitAxis> split_axes(const OpDesc& op, const std::vector<TensorSpec>& in,
                                  const OutputSpec& out, const Args& args);

}  // namespace oomless::ops
