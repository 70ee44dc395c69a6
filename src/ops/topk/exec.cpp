// topk(k, dim, largest, sorted): values and int32 indices along dim.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"
#include "ops/topk/kernels.hpp"

namespace oomless::ops {

std::vector<Tensor> exec_topk(const OpCall& call) {
  const std::string_view op = call.op.name;
  if (call.inputs.size() != 1)
    fail(op, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  check_host_dtype(call.inputs[0], op);
  const Tensor& x0 = call.inputs[0];
  if (x0.dtype() != DType::F32 && x0.dtype() != DType::BF16)
    fail(op, fmt::format("input dtype {} is not supported (float32 or bfloat16)",
                         dtype_name(x0.dtype())));
  const int64_t k = call.args.get_int("k");
  const int64_t dim = normalize_dim(call.args.get_int("dim"), x0.rank(), op);
  const int64_t n = x0.rank() == 0 ? 1 : x0.shape()[dim];
  if (k < 0 || k > n)
    fail(op, fmt::format("k = {} is out of range for a dim of size {} (dim {})", k, n, dim));
  if (n > std::numeric_limits<int32_t>::max())
    fail(op, fmt::format("dim size {} does not fit the int32 indices", n));
  // torch: a 0-d input gives 0-d outputs (the value itself) for k 0 or 1.
  const int64_t kk = x0.rank() == 0 ? 1 : k;
  Shape os = x0.shape();
  if (x0.rank() > 0) os[dim] = k;
  Tensor vals = Tensor::empty(os, x0.dtype()), idx = Tensor::empty(os, DType::I32);
  if (vals.numel() == 0) return {vals, idx};
  const Tensor x = as_contiguous(x0, op);
  TopKGeom g{n, 1, kk, call.args.get_bool("largest"), call.args.get_bool("sorted")};
  for (int64_t d = dim + 1; d < x.rank(); ++d) g.inner *= x.shape()[d];
  const int64_t rows = x.numel() / n;
  // Row blocks: at least 8 per thread for balance, at most ~64K elements each.
  const int64_t per = std::max<int64_t>(
      1, std::min<int64_t>((rows + 8 * omp_get_max_threads() - 1) / (8 * omp_get_max_threads()),
                           std::max<int64_t>(1, 65536 / n)));
  const int64_t blocks = (rows + per - 1) / per;
#pragma omp parallel for schedule(dynamic, 1) if (blocks > 1 && x.numel() >= (1 << 15))
  for (int64_t b = 0; b < blocks; ++b)
    topk_rows(g, x.dtype(), x.raw(), vals.raw(), idx.data<int32_t>(), b * per,
              std::min(rows, (b + 1) * per));
  return {vals, idx};
}

}  // namespace oomless::ops
