// Host execution of aten._softmax(self, dim, half_to_float). The input is
// viewed as [outer, len, inner] (made contiguous if strided); rows go to
// threads in fixed groups, so results never depend on the thread count.
// half_to_float=true takes a bfloat16 input to a float32 output (torch's CPU
// kernel rejects the flag outright; CUDA allows it for half types, and so do
// we); a float32 input with the flag is an error, as in ops/infer.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/softmax/kernels.hpp"

namespace oomless::ops {

std::vector<Tensor> exec_softmax(const OpCall& call) {
  const OpDesc& op = call.op;
  if (call.inputs.size() != 1)
    fail(op.name, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  const Tensor& x = call.inputs[0];
  if (!x.defined()) fail(op.name, "input tensor is undefined");
  if (x.dtype() != DType::F32 && x.dtype() != DType::BF16)
    fail(op.name, fmt::format("input has dtype {}; host kernels take float32 or bfloat16",
                              dtype_name(x.dtype())));
  const int64_t dim = normalize_dim(call.args.get_int("dim"), x.rank(), op.name);
  DType to = x.dtype();
  if (call.args.get_bool("half_to_float")) {
    if (x.dtype() != DType::BF16)
      fail(op.name, fmt::format("half_to_float=true converts a bfloat16 input to float32; the "
                                "input is {}",
                                dtype_name(x.dtype())));
    to = DType::F32;
  }
  const Tensor in = x.contiguous();
  Tensor out = Tensor::empty(in.shape(), to);
  if (in.numel() == 0) return {out};

  SoftmaxGeom g;
  g.outer = g.len = g.inner = 1;
  for (int64_t d = 0; d < in.rank(); ++d) {
    const int64_t s = in.shape()[d];
    if (d < dim)
      g.outer *= s;
    else if (d == dim)
      g.len = s;
    else
      g.inner *= s;
  }
  g.len_stride = g.inner;
  g.outer_stride = g.len * g.inner;
  g.stream = out.nbytes() >= (size_t{64} << 20);  // far beyond the caches
  const size_t ei = element_size(in.dtype()), eo = element_size(to);
  const char* pi = static_cast<const char*>(in.raw());
  char* po = static_cast<char*>(out.raw());

  // Few very long rows: split each row into kSoftmaxBlock pieces (online
  // softmax). One block per piece, folded in order: the unsplit kernel's bits.
  if (g.inner == 1 && g.len > kSoftmaxBlock && g.outer < 8) {
    const int64_t pieces = (g.len + kSoftmaxBlock - 1) / kSoftmaxBlock;
    std::vector<SoftmaxStats> part(static_cast<size_t>(pieces));
    for (int64_t o = 0; o < g.outer; ++o) {
      const int64_t row = o * g.len;
      auto piece = [&](int64_t p) {
        const int64_t off = row + p * kSoftmaxBlock;
        return std::pair{off, std::min(kSoftmaxBlock, g.len - p * kSoftmaxBlock)};
      };
#pragma omp parallel for schedule(static)
      for (int64_t p = 0; p < pieces; ++p) {
        auto [off, n] = piece(p);
        part[p] = softmax_row_stats(in.dtype(), to, pi + off * static_cast<int64_t>(ei), n);
      }
      SoftmaxStats st;
      for (const auto& s : part) st = softmax_merge(st, s);
#pragma omp parallel for schedule(static)
      for (int64_t p = 0; p < pieces; ++p) {
        auto [off, n] = piece(p);
        softmax_row_apply(in.dtype(), pi + off * static_cast<int64_t>(ei), to,
                          po + off * static_cast<int64_t>(eo), n, st);
      }
    }
    return {out};
  }

  // Work items: groups of rows (last dim) or (outer, inner tile) pairs, each
  // about 64K elements of work.
  const int64_t tile = g.inner == 1 ? 1 : std::min<int64_t>(g.inner, 256);
  const int64_t tiles = (g.inner + tile - 1) / tile;
  const int64_t per_item =
      std::max<int64_t>(1, 65536 / std::max<int64_t>(1, g.len * tile));  // outer rows per item
  const int64_t items_o = (g.outer + per_item - 1) / per_item;
  const int64_t items = items_o * tiles;
  auto run = [&](int64_t item) {
    const int64_t io = item / tiles, it = item % tiles;
    SoftmaxGeom c = g;
    const int64_t o0 = io * per_item, j0 = it * tile;
    c.outer = std::min(per_item, g.outer - o0);
    c.inner = std::min(tile, g.inner - j0);
    const int64_t off = o0 * g.outer_stride + j0;
    softmax_kernel(in.dtype(), pi + off * static_cast<int64_t>(ei), to,
                   po + off * static_cast<int64_t>(eo), c);
  };
  if (items == 1) {
    run(0);
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < items; ++i) run(i);
  }
  return {out};
}

}  // namespace oomless::ops
