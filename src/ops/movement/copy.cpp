#include "ops/movement/copy.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/movement/kernels.hpp"

namespace oomless::ops {

void check_host_dtype(const Tensor& t, std::string_view op, int input_index) {
  if (!t.defined()) fail(op, fmt::format("input {} is an undefined tensor", input_index));
  if (t.dtype() == DType::BFP8_B)
    fail(op, fmt::format("input {} has dtype bfloat8_b, which exists only as device tiles",
                         input_index));
}

void copy_into(const Tensor& dst, const Tensor& src, std::string_view op) {
  if (dst.shape() != src.shape())
    fail(op, fmt::format("copy of shape {} into shape {}", shape_str(src.shape()),
                         shape_str(dst.shape())));
  if (dst.numel() == 0) return;
  CopyPlan plan =
      plan_copy(dst.shape(), src.strides(), dst.strides(), element_size(src.dtype()), op);
  if (src.dtype() == dst.dtype()) return copy_parallel(plan, src.raw(), dst.raw());
  if (!is_float(src.dtype()) || !is_float(dst.dtype()))
    fail(op,
         fmt::format("cannot convert {} to {}", dtype_name(src.dtype()), dtype_name(dst.dtype())));
  convert_parallel(plan, src.raw(), src.dtype(), dst.raw(), dst.dtype());
}

Tensor clone_contiguous(const Tensor& src, std::string_view op) {
  Tensor out = Tensor::empty(src.shape(), src.dtype());
  copy_into(out, src, op);
  return out;
}

Tensor as_contiguous(const Tensor& src, std::string_view op) {
  return src.is_contiguous() ? src : clone_contiguous(src, op);
}

}  // namespace oomless::ops
