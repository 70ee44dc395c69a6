// Per-family variant enums and kernel entry points. Each family's exec lives in
// src/ops/<family>/; the op table (ops/op_table.cpp) wires names to them.
#pragma once
#include <vector>

#include "ops/op.hpp"

namespace oomless::ops {

enum class UnaryOp {
  Relu,
  Sigmoid,
  Silu,
  SiluInplace,
  Tanh,
  Mish,
  Softplus,
  Hardtanh,
  LeakyRelu,
  Gelu,
  Log,
  Clamp,
  ClampMin,
};
enum class BinaryOp { Add, Sub, Mul, Div };
enum class ReduceOp { VectorNorm, Mean };
enum class MovementOp {
  Permute,
  Transpose,
  View,
  UnsafeView,
  Unsqueeze,
  Expand,
  Clone,
  Copy,
  Identity,
  Slice,
  Select
};
enum class ConcatOp { Cat, Stack };
enum class SplitOp { Split, SplitWithSizes };
enum class MatmulOp { Mm, Bmm, Addmm, Linear };

// Host execution of one call. Inputs may be strided views; outputs are new
// contiguous tensors, or views of an input where the op is a view in PyTorch.
// bf16 ops compute in f32 and round once.
std::vector<Tensor> exec_unary(const OpCall& call);
std::vector<Tensor> exec_binary(const OpCall& call);
std::vector<Tensor> exec_softmax(const OpCall& call);
std::vector<Tensor> exec_reduce(const OpCall& call);
std::vector<Tensor> exec_batch_norm(const OpCall& call);
std::vector<Tensor> exec_max_pool2d(const OpCall& call);
std::vector<Tensor> exec_upsample(const OpCall& call);
std::vector<Tensor> exec_topk(const OpCall& call);
std::vector<Tensor> exec_dropout(const OpCall& call);
std::vector<Tensor> exec_movement(const OpCall& call);
std::vector<Tensor> exec_concat(const OpCall& call);
std::vector<Tensor> exec_split(const OpCall& call);
std::vector<Tensor> exec_creation(const OpCall& call);
std::vector<Tensor> exec_matmul(const OpCall& call);
std::vector<Tensor> exec_conv(const OpCall& call);

}  // namespace oomless::ops
