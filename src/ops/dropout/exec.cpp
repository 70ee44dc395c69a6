// native_dropout(p, train, seed): output and mask (mask in the input dtype).
// `offset` is the global index of element 0: a chunk of a larger call draws the
// same mask as the whole call does for those elements.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/dropout/kernels.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

std::vector<Tensor> exec_dropout(const OpCall& call) {
  const std::string_view op = call.op.name;
  if (call.inputs.size() != 1)
    fail(op, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  check_host_dtype(call.inputs[0], op);
  const Tensor& x0 = call.inputs[0];
  const DType t = x0.dtype();
  if (t != DType::F32 && t != DType::BF16)
    fail(op, fmt::format("input dtype {} is not supported (float32 or bfloat16)", dtype_name(t)));
  const double p = call.args.get_float("p");
  if (!(p >= 0.0 && p <= 1.0))
    fail(op, fmt::format("dropout probability has to be between 0 and 1, but got p={}", p));
  const bool train = call.args.get_bool("train");
  const uint64_t seed = static_cast<uint64_t>(call.args.get_int("seed"));
  const int64_t offset = call.args.get_int("offset");
  if (offset < 0) fail(op, fmt::format("offset must be non-negative, got {}", offset));

  Tensor out = Tensor::empty(x0.shape(), t), mask = Tensor::empty(x0.shape(), t);
  const int64_t n = out.numel();
  if (n == 0) return {out, mask};
  if (!train) {
    copy_into(out, x0, op);
    const Tensor one = Tensor::empty({}, t);
    one.set(0, 1.0);
    copy_into(mask, one.expand(x0.shape()), op);
    return {out, mask};
  }
  const Tensor x = as_contiguous(x0, op);
  const int64_t es = static_cast<int64_t>(element_size(t));
  // Pieces start at multiples of 4 so each Philox block is drawn once.
  const int64_t pieces =
      std::max<int64_t>(1, std::min<int64_t>(8 * omp_get_max_threads(), n >> 14));
  const int64_t step = ((n + pieces - 1) / pieces + 3) / 4 * 4;
  const char* in = static_cast<const char*>(x.raw());
  char* o = static_cast<char*>(out.raw());
  char* m = static_cast<char*>(mask.raw());
#pragma omp parallel for schedule(dynamic, 1) if (pieces > 1)
  for (int64_t k = 0; k < pieces; ++k) {
    const int64_t a = std::min(n, k * step), b = std::min(n, (k + 1) * step);
    if (a < b)
      dropout_range(t, in + a * es, o + a * es, m + a * es, b - a,
                    static_cast<uint64_t>(offset + a), seed, p);
  }
  return {out, mask};
}

}  // namespace oomless::ops
