// ones(size): a filled contiguous tensor.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "ops/creation/kernels.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

void fill_range(void* dst, size_t elem_size, const void* value, int64_t i0, int64_t i1) {
  char* d = static_cast<char*>(dst);
  if (elem_size == 2) {
    uint16_t v;
    std::memcpy(&v, value, 2);
    std::fill(reinterpret_cast<uint16_t*>(d) + i0, reinterpret_cast<uint16_t*>(d) + i1, v);
  } else if (elem_size == 4) {
    uint32_t v;
    std::memcpy(&v, value, 4);
    std::fill(reinterpret_cast<uint32_t*>(d) + i0, reinterpret_cast<uint32_t*>(d) + i1, v);
  } else {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(d + i * elem_size, value, elem_size);
  }
}

DType creation_dtype(const OpCall& call) {
  (void)call;
  // TODO(lead): wire --dtype (and a Python dtype=) into the call; until then
  // ones is always bfloat16, the seed's dtype.
  return DType::BF16;
}

std::vector<Tensor> exec_creation(const OpCall& call) {
  const std::string_view op = call.op.name;
  if (!call.inputs.empty())
    fail(op, fmt::format("takes no tensor inputs, got {}", call.inputs.size()));
  const std::vector<int64_t> size = call.args.get_ints("size");
  for (size_t i = 0; i < size.size(); ++i)
    if (size[i] < 0)
      fail(op,
           fmt::format("size {} has a negative entry {} at dim {}", shape_str(size), size[i], i));
  const DType dtype = creation_dtype(call);
  if (dtype != DType::BF16 && dtype != DType::F32)
    fail(op, fmt::format("dtype {} is not supported", dtype_name(dtype)));
  Tensor out = Tensor::empty(Shape(size.begin(), size.end()), dtype);
  const float one_f = 1.0f;
  const uint16_t one_bf = f32_to_bf16(1.0f);
  const void* value =
      dtype == DType::BF16 ? static_cast<const void*>(&one_bf) : static_cast<const void*>(&one_f);
  const int64_t n = out.numel();
  const size_t es = element_size(dtype);
  // Parallel fill: the first touch of fresh pages is the real cost here.
  const int64_t pieces =
      n * static_cast<int64_t>(es) < (int64_t{1} << 20) ? 1 : omp_get_max_threads() * 4;
  const int64_t step = (n + pieces - 1) / std::max<int64_t>(pieces, 1);
#pragma omp parallel for schedule(static) if (pieces > 1)
  for (int64_t k = 0; k < pieces; ++k)
    fill_range(out.raw(), es, value, std::min(n, k * step), std::min(n, (k + 1) * step));
  return {out};
}

}  // namespace oomless::ops
