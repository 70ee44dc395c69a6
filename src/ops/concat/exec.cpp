// cat / concat / stack with torch 1.13's shape and dtype rules. Each input is
// one strided copy into its slice of the output (memcpy rows when contiguous).
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

namespace {

// torch's legacy rule: 1-D tensors of size 0 are skipped by cat.
bool legacy_empty(const Tensor& t) {
  return t.rank() == 1 && t.numel() == 0;
}

// Type promotion between the float dtypes; other dtypes must all agree.
DType result_dtype(const std::vector<Tensor>& xs, std::string_view op) {
  DType out = xs[0].dtype();
  for (size_t i = 1; i < xs.size(); ++i) {
    DType d = xs[i].dtype();
    if (d == out) continue;
    if (!is_float(d) || !is_float(out))
      fail(op, fmt::format("cannot join tensors of dtype {} and {} (tensor {})", dtype_name(out),
                           dtype_name(d), i));
    out = DType::F32;  // bf16 with f32 promotes to f32
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim, std::string_view op) {
  if (xs.empty()) fail(op, "expected a non-empty list of tensors");
  for (size_t i = 0; i < xs.size(); ++i) {
    check_host_dtype(xs[i], op, static_cast<int>(i));
    if (xs[i].rank() == 0)
      fail(op, fmt::format("zero-dimensional tensor (at position {}) cannot be concatenated", i));
  }
  const DType dtype = result_dtype(xs, op);
  const Tensor* ref = nullptr;  // first tensor that is not a legacy empty one
  for (const auto& x : xs)
    if (!legacy_empty(x)) {
      ref = &x;
      break;
    }
  if (!ref) return Tensor::empty({0}, dtype);
  const int64_t d = normalize_dim(dim, ref->rank(), op);
  Shape shape = ref->shape();
  shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    if (legacy_empty(x)) continue;
    if (x.rank() != ref->rank())
      fail(op, fmt::format("tensors must have the same number of dims: got {} and {} (tensor {})",
                           ref->rank(), x.rank(), i));
    for (int64_t k = 0; k < x.rank(); ++k)
      if (k != d && x.shape()[k] != ref->shape()[k])
        fail(op, fmt::format("sizes of tensors must match except in dim {}: expected size {} but "
                             "got size {} at dim {} for tensor {} in the list",
                             d, ref->shape()[k], x.shape()[k], k, i));
    shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(shape, dtype);
  int64_t at = 0;
  for (const auto& x : xs) {
    if (legacy_empty(x)) continue;
    const int64_t n = x.shape()[d];
    if (x.numel() > 0) copy_into(out.narrow(d, at, n), x, op);
    at += n;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim, std::string_view op) {
  if (xs.empty()) fail(op, "expected a non-empty list of tensors");
  for (size_t i = 0; i < xs.size(); ++i) {
    check_host_dtype(xs[i], op, static_cast<int>(i));
    if (xs[i].shape() != xs[0].shape())
      fail(op, fmt::format("expects each tensor to be equal size, but got {} at entry 0 and {} at "
                           "entry {}",
                           shape_str(xs[0].shape()), shape_str(xs[i].shape()), i));
  }
  const int64_t d = normalize_dim(dim, xs[0].rank() + 1, op);
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (const auto& x : xs) us.push_back(x.unsqueeze(d, op));
  return cat(us, d, op);
}

}  // namespace

std::vector<Tensor> exec_concat(const OpCall& call) {
  const int64_t dim = call.args.get_int("dim");
  if (static_cast<ConcatOp>(call.op.variant) == ConcatOp::Stack)
    return {stack(call.inputs, dim, call.op.name)};
  return {cat(call.inputs, dim, call.op.name)};
}

}  // namespace oomless::ops
