// convolution: validate (torch's checks, one dtype), then the depthwise or the
// dense kernel on the tensors as they are. Only the vectorized dim must have
// unit stride (NCHW: columns, channels_last: channels); other strides are read
// in place, so the planner's row slices (narrowed views) are not copied.
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/conv/kernels.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

std::vector<Tensor> exec_conv(const OpCall& call) {
  const std::string_view op = call.op.name;
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    check_host_dtype(call.inputs[i], op, static_cast<int>(i));
    specs.push_back({call.inputs[i].shape(), call.inputs[i].dtype()});
  }
  const OutputSpec spec = infer_output(call.op, specs, call.args);  // before any allocation
  const ConvGeom g = conv_geometry(op, specs, call.args);
  const DType t = call.inputs[0].dtype();
  if (t != DType::F32 && t != DType::BF16)
    fail(op, fmt::format("input dtype {} is not supported (float32 or bfloat16)", dtype_name(t)));
  Tensor out = Tensor::empty(spec.outputs[0].shape, t);
  if (out.numel() == 0) return {out};

  Tensor x = call.inputs[0];
  const int64_t unit = g.channels_last ? 3 : x.rank() - 1;
  if (x.size(unit) > 1 && x.strides()[unit] != 1) x = as_contiguous(x, op);
  const Tensor w = as_contiguous(call.inputs[1], op);
  const Tensor bias = g.has_bias ? as_contiguous(call.inputs[2], op) : Tensor();

  // (n, c, h, w) element strides of a [N,]C,H,W or N,H,W,C tensor.
  auto strides4 = [&](const Tensor& v) {
    const Strides& s = v.strides();
    if (!g.batched) return conv::Strides4{0, s[0], s[1], s[2]};
    if (g.channels_last) return conv::Strides4{s[0], s[3], s[1], s[2]};
    return conv::Strides4{s[0], s[1], s[2], s[3]};
  };
  conv::ConvArgs a;
  a.dtype = t;
  a.x = x.raw();
  a.xs = strides4(x);
  a.w = w.raw();
  a.bias = g.has_bias ? bias.raw() : nullptr;
  a.out = out.raw();
  a.os = strides4(out);
  if (conv::is_depthwise(g))
    conv::conv_depthwise(g, a);
  else
    conv::conv_dense(g, a);
  return {out};
}

}  // namespace oomless::ops
