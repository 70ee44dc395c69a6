// convolution: a direct kernel over (image, output channel, output row) items.
// Each output element is one f32 sum in a fixed order (input channel, kernel
// row, kernel column), plus the bias, rounded once to the output dtype; so it
// never depends on threads or on the rows a slice computes.
#include <omp.h>

#include "core/error.hpp"
#include "ops/conv/geometry.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

namespace {

inline float load(const void* p, int64_t i, DType t) {
  return t == DType::F32 ? static_cast<const float*>(p)[i]
                         : bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}

}  // namespace

std::vector<Tensor> exec_conv(const OpCall& call) {
  const std::string_view op = call.op.name;
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    check_host_dtype(call.inputs[i], op, static_cast<int>(i));
    specs.push_back({call.inputs[i].shape(), call.inputs[i].dtype()});
  }
  const ConvGeom g = conv_geometry(op, specs, call.args);
  const DType t = call.inputs[0].dtype();
  Tensor out = Tensor::empty(g.output_shape(), t);
  if (out.numel() == 0) return {out};
  const Tensor x = as_contiguous(call.inputs[0], op);
  const Tensor w = as_contiguous(call.inputs[1], op);
  const Tensor bias = g.has_bias ? as_contiguous(call.inputs[2], op) : Tensor();
  // Element strides of the input and output in (n, c, h, w).
  const int64_t xs_n = g.C * g.H * g.W, os_n = g.K * g.OH * g.OW;
  const int64_t xs_c = g.channels_last ? 1 : g.H * g.W, xs_h = g.channels_last ? g.W * g.C : g.W,
                xs_w = g.channels_last ? g.C : 1;
  const int64_t os_c = g.channels_last ? 1 : g.OH * g.OW,
                os_h = g.channels_last ? g.OW * g.K : g.OW, os_w = g.channels_last ? g.K : 1;
  const int64_t cpg = g.cin_per_group(), kpg = g.cout_per_group();
  const void* xp = x.raw();
  const void* wp = w.raw();
  void* op_ = out.raw();
#pragma omp parallel for collapse(3) schedule(dynamic, 4)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t c0 = k / kpg * cpg;
        const int64_t ih0 = (g.row0 + oh) * g.sh - g.ph;  // row of the whole plane
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t iw0 = ow * g.sw - g.pw;
          float acc = 0;
          for (int64_t c = 0; c < cpg; ++c)
            for (int64_t i = 0; i < g.kh; ++i) {
              const int64_t ih = ih0 + i * g.dh;
              if (ih < 0 || ih >= g.full_h) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t iw = iw0 + j * g.dw;
                if (iw < 0 || iw >= g.W) continue;
                const int64_t xi = n * xs_n + (c0 + c) * xs_c + (ih - g.in_row0) * xs_h + iw * xs_w;
                acc += load(xp, xi, t) * load(wp, ((k * cpg + c) * g.kh + i) * g.kw + j, t);
              }
            }
          if (g.has_bias) acc += load(bias.raw(), k, t);
          const int64_t oi = n * os_n + k * os_c + oh * os_h + ow * os_w;
          if (t == DType::F32)
            static_cast<float*>(op_)[oi] = acc;
          else
            static_cast<uint16_t*>(op_)[oi] = f32_to_bf16(acc);
        }
      }
  return {out};
}

}  // namespace oomless::ops
