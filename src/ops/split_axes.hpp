// How a call may be cut into independent chunks: the output dims along which
// slices of the output depend only on matching slices of the inputs. The
// planner reads this from the descriptor; it never looks at op names.
#pragma once
#include <optional>
#include <string_view>
#include <vector>

#include "ops/op.hpp"

namespace oomless::ops {

struct SplitAxis {
  int out_dim = 0;           // a dim of every output (all outputs share it)
  std::vector<int> in_dims;  // per input: the dim sliced with it, or -1 (used whole)
  // Chunks must start at multiples of this along out_dim: the kernel's fixed,
  // index-aligned blocks (e.g. the GEMM's row tiles), so that a chunked run
  // computes every element exactly as the whole call does.
  int64_t align = 1;
  // Counter-based RNG (dropout): an Int argument that each chunk gets as its
  // first element's global index, `offset_stride` elements per unit of out_dim
  // (added to the call's own value), so chunks draw the whole call's numbers.
  std::string_view offset_arg = {};
  int64_t offset_stride = 0;
  // An Int argument each chunk gets as its extent along out_dim (depthwise
  // convolution's groups: one group per channel).
  std::string_view count_arg = {};
  // Windowed ops (max_pool2d rows): output index i reads input indices
  // [i * stride - pad, i * stride - pad + window) along in_dims, clipped to
  // [0, in_extent). A chunk gets that halo of the input, and the arguments
  // named here: the whole input extent, its first output index and count.
  struct Halo {
    int64_t stride = 1, pad = 0, window = 1, in_extent = 0;
    std::string_view extent_arg, start_arg, count_arg;
  };
  std::optional<Halo> halo;
};

// Outermost first. Empty: the call cannot be chunked (views, batch-norm
// statistics, splits).
std::vector<SplitAxis> split_axes(const OpDesc& op, const std::vector<TensorSpec>& in,
                                  const OutputSpec& out, const Args& args);

}  // namespace oomless::ops
