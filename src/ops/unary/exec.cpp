// Host execution of the elementwise unary ops: contiguous in -> contiguous out
// through the SIMD kernels; strided inputs are made contiguous first.
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/unary/kernels.hpp"

namespace oomless::ops {

namespace {

void check_dtype(const OpDesc& op, const Tensor& x) {
  if (x.dtype() != DType::F32 && x.dtype() != DType::BF16)
    fail(op.name, fmt::format("input has dtype {}; host kernels take float32 or bfloat16",
                              dtype_name(x.dtype())));
}

void run(UnaryOp u, const UnaryParams& p, const Tensor& in, const Tensor& out) {
  if (in.dtype() == DType::F32)
    unary_parallel(u, p, in.data<float>(), out.data<float>(), in.numel());
  else
    unary_parallel(u, p, in.data<uint16_t>(), out.data<uint16_t>(), in.numel());
}

// silu_: writes through the input view. A view where two elements share memory
// (an expand) cannot be written in place, as in torch.
Tensor silu_inplace(const OpDesc& op, const UnaryParams& p, const Tensor& x) {
  for (int64_t d = 0; d < x.rank(); ++d)
    if (x.strides()[d] == 0 && x.shape()[d] > 1)
      fail(op.name, fmt::format("input of shape {} has stride 0 in dim {}; more than one "
                                "element refers to the same memory location",
                                shape_str(x.shape()), d));
  if (x.is_contiguous()) {
    run(UnaryOp::SiluInplace, p, x, x);
    return x;
  }
  Tensor tmp = x.clone();
  run(UnaryOp::SiluInplace, p, tmp, tmp);
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) x.set(i, tmp.get(i));  // rare strided case
  return x;
}

}  // namespace

std::vector<Tensor> exec_unary(const OpCall& call) {
  const OpDesc& op = call.op;
  if (call.inputs.size() != 1)
    fail(op.name, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  const Tensor& x = call.inputs[0];
  if (!x.defined()) fail(op.name, "input tensor is undefined");
  check_dtype(op, x);
  const auto u = static_cast<UnaryOp>(op.variant);
  const UnaryParams p = unary_params(u, call.args, op.name);
  if (u == UnaryOp::SiluInplace) return {silu_inplace(op, p, x)};
  const Tensor in = x.contiguous();
  Tensor out = Tensor::empty(in.shape(), in.dtype());
  run(u, p, in, out);
  return {out};
}

}  // namespace oomless::ops
