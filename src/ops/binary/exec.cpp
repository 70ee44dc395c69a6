// Host execution of add/sub/mul/div with torch broadcasting. Strided or
// broadcast operands are read in place (no copies): dims are coalesced, then
// the kernel runs once per innermost row of the output, split over threads in
// fixed blocks of the flat output index.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/binary/kernels.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

namespace {

constexpr int64_t kBlock = 16384;  // elements per parallel work item
constexpr int64_t kStreamBytes = int64_t{64} << 20;

// Output dims after dropping size-1 dims and merging runs that are contiguous
// for all three tensors; the last entry is the innermost (kernel) dim.
struct Geometry {
  std::vector<int64_t> size, sa, sb, so;
};

Geometry coalesce(const Shape& out, const Tensor& a, const Tensor& b) {
  const int64_t r = static_cast<int64_t>(out.size());
  auto aligned = [&](const Tensor& t) {
    Strides s(out.size(), 0);
    const int64_t off = r - t.rank();
    for (int64_t d = 0; d < t.rank(); ++d)
      if (t.shape()[d] != 1) s[d + off] = t.strides()[d];
    return s;
  };
  const Strides sa = aligned(a), sb = aligned(b), so = contiguous_strides(out);
  Geometry g;
  for (int64_t d = 0; d < r; ++d) {
    if (out[d] == 1) continue;
    if (!g.size.empty()) {
      const int64_t n = out[d];
      // The previous (outer) dim folds into this one when it steps by n inner steps.
      if (g.sa.back() == sa[d] * n && g.sb.back() == sb[d] * n && g.so.back() == so[d] * n) {
        g.size.back() *= n;
        g.sa.back() = sa[d];
        g.sb.back() = sb[d];
        g.so.back() = so[d];
        continue;
      }
    }
    g.size.push_back(out[d]);
    g.sa.push_back(sa[d]);
    g.sb.push_back(sb[d]);
    g.so.push_back(so[d]);
  }
  if (g.size.empty()) g = {{1}, {0}, {0}, {1}};
  return g;
}

DType promote(DType a, DType b) {
  return a == DType::F32 || b == DType::F32 ? DType::F32 : a;
}

}  // namespace

std::vector<Tensor> exec_binary(const OpCall& call) {
  const OpDesc& op = call.op;
  if (call.inputs.size() != 2)
    fail(op.name, fmt::format("expects 2 tensor inputs, got {}", call.inputs.size()));
  const Tensor& a = call.inputs[0];
  const Tensor& b = call.inputs[1];
  for (int i = 0; i < 2; ++i) {
    const Tensor& t = call.inputs[i];
    if (!t.defined()) fail(op.name, fmt::format("input {} is undefined", i));
    if (t.dtype() != DType::F32 && t.dtype() != DType::BF16)
      fail(op.name, fmt::format("input {} has dtype {}; host kernels take float32 or bfloat16", i,
                                dtype_name(t.dtype())));
  }
  const auto bop = static_cast<BinaryOp>(op.variant);
  float alpha = 1.f;
  if (bop == BinaryOp::Add || bop == BinaryOp::Sub) {
    const double al = call.args.get_float("alpha");
    if (!std::isfinite(al)) fail(op.name, fmt::format("alpha must be finite, got {}", al));
    alpha = static_cast<float>(al);
  }
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op.name);
  const DType to = promote(a.dtype(), b.dtype());
  Tensor out = Tensor::empty(shape, to);
  const int64_t total = out.numel();
  if (total == 0) return {out};

  const Geometry g = coalesce(shape, a, b);
  const int64_t rank = static_cast<int64_t>(g.size.size());
  const int64_t inner = g.size.back();
  const size_t ea = element_size(a.dtype()), eb = element_size(b.dtype()), eo = element_size(to);
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  char* po = static_cast<char*>(out.raw());

  // Outputs far beyond the caches are written with non-temporal stores.
  const bool stream = total * static_cast<int64_t>(eo) >= kStreamBytes;
  // Runs flat output elements [lo, hi): whole or partial innermost rows.
  auto run = [&](int64_t lo, int64_t hi) {
    int64_t row = lo / inner, col = lo % inner;
    while (lo < hi) {
      int64_t oa = 0, ob = 0, rem = row;
      for (int64_t d = rank - 2; d >= 0; --d) {
        const int64_t i = rem % g.size[d];
        rem /= g.size[d];
        oa += i * g.sa[d];
        ob += i * g.sb[d];
      }
      const int64_t len = std::min(inner - col, hi - lo);
      oa += col * g.sa.back();
      ob += col * g.sb.back();
      binary_kernel(bop, alpha, a.dtype(), pa + oa * static_cast<int64_t>(ea), g.sa.back(),
                    b.dtype(), pb + ob * static_cast<int64_t>(eb), g.sb.back(), to,
                    po + lo * static_cast<int64_t>(eo), len, stream);
      lo += len;
      ++row;
      col = 0;
    }
  };
  const int64_t blocks = (total + kBlock - 1) / kBlock;
  if (blocks <= 1) {
    run(0, total);
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk)
      run(blk * kBlock, std::min(total, (blk + 1) * kBlock));
  }
  return {out};
}

}  // namespace oomless::ops
