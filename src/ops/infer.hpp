// Phase 1 of each family: validate a call and infer its outputs (pure; no
// memory, no data). Errors are InvalidArgument naming the op and the bad value.
#pragma once
#include "ops/op.hpp"

namespace oomless::ops {

// aten::slice's range along a dim of `size` (args start, end, step): the first
// index, the number of indices, the step. Throws InvalidArgument for step <= 0.
struct SliceRange {
  int64_t start = 0, length = 0, step = 1;
};
SliceRange slice_range(std::string_view op, int64_t size, const Args& a);

OutputSpec infer_unary(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_binary(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_softmax(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_reduce(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_batch_norm(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_max_pool2d(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_upsample(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_topk(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_dropout(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_movement(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_concat(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_split(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_creation(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
OutputSpec infer_matmul(const OpDesc&, const std::vector<TensorSpec>&, const Args&);

}  // namespace oomless::ops
