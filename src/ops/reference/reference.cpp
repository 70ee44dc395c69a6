// The reference's public entry points: dispatch on the op family, tolerances, value
// and index checks, and the element-access helpers every family file uses.
#include "ops/reference/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops {

namespace ref {

double load(const Tensor& t, int64_t offset) {
  const char* p =
      static_cast<const char*>(t.raw()) + offset * static_cast<int64_t>(element_size(t.dtype()));
  switch (t.dtype()) {
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16_to_f32(b);
    }
    case DType::I32: {
      int32_t i;
      std::memcpy(&i, p, 4);
      return i;
    }
    case DType::U32: {
      uint32_t u;
      std::memcpy(&u, p, 4);
      return u;
    }
    case DType::BFP8_B:
      break;
  }
  throw Error(fmt::format("[reference] cannot read elements of dtype {}", dtype_name(t.dtype())));
}

int64_t offset_of(const Tensor& t, const Index& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  return off;
}

double at(const Tensor& t, const Index& idx) {
  if (static_cast<int64_t>(idx.size()) != t.rank())
    throw Error(fmt::format("[reference] index of rank {} into a tensor of shape {}", idx.size(),
                            shape_str(t.shape())));
  for (size_t d = 0; d < idx.size(); ++d)
    if (idx[d] < 0 || idx[d] >= t.shape()[d])
      throw Error(fmt::format("[reference] index {} out of range for shape {}", shape_str(idx),
                              shape_str(t.shape())));
  return load(t, offset_of(t, idx));
}

void bad(const OpCall& call, const std::string& what) {
  fail(call.op.name, fmt::format("reference: {}", what));
}

bool has_input(const OpCall& call, size_t i) {
  return i < call.inputs.size() && call.inputs[i].defined();
}

const Tensor& input(const OpCall& call, size_t i) {
  if (!has_input(call, i)) bad(call, fmt::format("tensor input {} is missing", i));
  return call.inputs[i];
}

int64_t linear_index(const Shape& shape, const Index& idx) {
  int64_t lin = 0;
  for (size_t d = 0; d < shape.size(); ++d) lin = lin * shape[d] + idx[d];
  return lin;
}

Index broadcast_index(const Shape& in_shape, const Index& out_idx) {
  Index in(in_shape.size());
  const size_t lead = out_idx.size() - in_shape.size();
  for (size_t d = 0; d < in_shape.size(); ++d) in[d] = in_shape[d] == 1 ? 0 : out_idx[lead + d];
  return in;
}

}  // namespace ref

using namespace ref;

namespace {

void check_index(const OpCall& call, const Shapes& shapes, size_t output, const Index& index) {
  if (output >= shapes.size())
    bad(call, fmt::format("output {} does not exist (the call has {})", output, shapes.size()));
  const Shape& s = shapes[output];
  bool ok = index.size() == s.size();
  for (size_t d = 0; ok && d < s.size(); ++d) ok = index[d] >= 0 && index[d] < s[d];
  if (!ok)
    bad(call, fmt::format("index {} is not inside output {} of shape {}", shape_str(index), output,
                          shape_str(s)));
}

bool index_output(Family f, size_t output) {
  return output == 1 && (f == Family::MaxPool || f == Family::TopK);
}

Bound bound_of(const OpCall& call, const Shapes& s, size_t out, const Index& idx, double r) {
  if (index_output(call.op.family, out)) return exact_bound();
  switch (call.op.family) {
    case Family::Unary:
      return unary_bound(call, s, out, idx, r);
    case Family::Binary:
      return binary_bound(call, s, out, idx, r);
    case Family::Softmax:
      return softmax_bound(call, s, out, idx, r);
    case Family::Reduce:
      return reduce_bound(call, s, out, idx, r);
    case Family::BatchNorm:
      return batch_norm_bound(call, s, out, idx, r);
    case Family::Dropout:
      return dropout_bound(call, s, out, idx, r);
    case Family::Matmul:
      return matmul_bound(call, s, out, idx, r);
    case Family::Conv:
      return conv_bound(call, s, out, idx, r);
    case Family::MaxPool:
    case Family::Upsample:
    case Family::TopK:
    case Family::Movement:
    case Family::Concat:
    case Family::Split:
    case Family::Creation:
      return exact_bound();
  }
  bad(call, "unknown op family");
}

int mantissa_bits(DType t) {
  return t == DType::F32 ? 23 : 7;
}

// The value past which rounding to dtype gives infinity (max finite + half its ulp).
double overflow_threshold(DType t) {
  switch (t) {
    case DType::F32:
      return 0x1p128 - 0x1p103;
    case DType::BF16:
    case DType::BFP8_B:
      return 0x1p128 - 0x1p119;
    case DType::I32:
    case DType::U32:
      break;
  }
  return std::numeric_limits<double>::infinity();
}

// Distance from ref to its rounding to dtype, directly or through f32 (the kernels
// hold double arguments as floats): what a pure copy or selection may lose.
double exact_tolerance(double ref, DType dtype) {
  const double direct = reference_round(dtype, ref);
  const double via_f32 = reference_round(dtype, static_cast<double>(static_cast<float>(ref)));
  if (std::isinf(direct) || std::isinf(via_f32)) return reference_ulp(dtype, ref);
  return std::max(std::fabs(ref - direct), std::fabs(ref - via_f32));
}

}  // namespace

double reference_ulp(DType dtype, double v) {
  if (dtype == DType::I32 || dtype == DType::U32) return 1.0;
  const int mant = mantissa_bits(dtype);
  const double a = std::fabs(v);
  if (!(a < 0x1p128)) return std::ldexp(1.0, 127 - mant);  // also inf and NaN
  if (a < 0x1p-126) return std::ldexp(1.0, -126 - mant);
  int e = 0;
  std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1): the leading bit is 2^(e-1)
  return std::ldexp(1.0, e - 1 - mant);
}

double reference_round(DType dtype, double v) {
  switch (dtype) {
    case DType::F32:
      return static_cast<float>(v);
    case DType::I32:
    case DType::U32:
      return std::nearbyint(v);
    case DType::BF16:
    case DType::BFP8_B:
      break;
  }
  if (!std::isfinite(v) || v == 0) return v;
  int e = 0;
  std::frexp(std::fabs(v), &e);
  const double quantum = std::ldexp(1.0, std::max(e - 1, -126) - mantissa_bits(dtype));
  const double r = std::nearbyint(v / quantum) * quantum;  // ties to even
  if (std::fabs(r) > 0x1p128 - 0x1p120) return std::copysign(HUGE_VAL, v);
  return r;
}

double reference_at(const OpCall& call, const std::vector<Shape>& output_shapes, size_t output,
                    const std::vector<int64_t>& index) {
  check_index(call, output_shapes, output, index);
  const Shapes& s = output_shapes;
  switch (call.op.family) {
    case Family::Unary:
      return unary_at(call, s, output, index);
    case Family::Binary:
      return binary_at(call, s, output, index);
    case Family::Softmax:
      return softmax_at(call, s, output, index);
    case Family::Reduce:
      return reduce_at(call, s, output, index);
    case Family::BatchNorm:
      return batch_norm_at(call, s, output, index);
    case Family::MaxPool:
      return max_pool2d_at(call, s, output, index);
    case Family::Upsample:
      return upsample_at(call, s, output, index);
    case Family::TopK:
      return topk_at(call, s, output, index);
    case Family::Dropout:
      return dropout_at(call, s, output, index);
    case Family::Movement:
      return movement_at(call, s, output, index);
    case Family::Concat:
      return concat_at(call, s, output, index);
    case Family::Split:
      return split_at(call, s, output, index);
    case Family::Creation:
      return 1.0;  // ones
    case Family::Matmul:
      return matmul_at(call, s, output, index);
    case Family::Conv:
      return conv_at(call, s, output, index);
  }
  bad(call, "unknown op family");
}

double reference_tolerance(const OpCall& call, const std::vector<Shape>& output_shapes,
                           size_t output, const std::vector<int64_t>& index, double ref,
                           DType dtype) {
  check_index(call, output_shapes, output, index);
  if (!std::isfinite(ref)) return 0;  // NaN and inf must match exactly
  const Bound b = bound_of(call, output_shapes, output, index, ref);
  if (b.exact) return exact_tolerance(ref, dtype);
  // 1 ulp at |ref| + the f32 arithmetic's error + flush-to-zero of subnormal results
  // (each rounding counted in the bound may lose up to the smallest normal instead).
  return reference_ulp(dtype, ref) + b.abs * (1.0 + 0x1p-102) + 0x1p-126;
}

bool reference_value_ok(double got, double ref, double tol, DType dtype) {
  if (std::isnan(ref)) return std::isnan(got);
  if (std::isnan(got)) return false;
  if (std::isinf(ref)) return got == ref;
  if (std::isinf(got))
    return (got > 0) == (ref > 0) && std::fabs(ref) + tol >= overflow_threshold(dtype);
  return std::fabs(got - ref) <= tol;
}

bool reference_is_index_output(const OpCall& call, size_t output) {
  return index_output(call.op.family, output);
}

bool reference_index_ok(const OpCall& call, const std::vector<Shape>& output_shapes, size_t output,
                        const std::vector<int64_t>& index, double got_index) {
  check_index(call, output_shapes, output, index);
  if (!index_output(call.op.family, output))
    bad(call, fmt::format("output {} is not an index output", output));
  if (!std::isfinite(got_index) || got_index != std::floor(got_index)) return false;
  if (std::fabs(got_index) > 0x1p62) return false;
  const auto got = static_cast<int64_t>(got_index);
  if (call.op.family == Family::MaxPool)
    return max_pool2d_index_ok(call, output_shapes, index, got);
  return topk_index_ok(call, output_shapes, index, got);
}

bool reference_dropout_ok(const OpCall& call, const std::vector<Shape>& output_shapes,
                          const std::vector<int64_t>& index, double got_out, double got_mask,
                          DType dtype) {
  if (call.op.family != Family::Dropout) bad(call, "reference_dropout_ok is for dropout");
  const double kept = reference_at(call, output_shapes, 0, index);
  const double tol = reference_tolerance(call, output_shapes, 0, index, kept, dtype);
  const bool train = call.args.get_bool("train");
  const double p = call.args.get_float("p");
  const double x = at(input(call, 0), index);
  const bool kept_ok = reference_value_ok(got_out, kept, tol, dtype);
  // torch computes x * mask * scale, so a dropped non-finite x gives NaN; 0 is also fine.
  const bool dropped_ok = got_out == 0 || (std::isnan(got_out) && !std::isfinite(x));
  const bool mask_known = !std::isnan(got_mask);
  if (mask_known && got_mask != 0 && got_mask != 1) return false;
  if (!train || p == 0) return kept_ok && (!mask_known || got_mask == 1);
  if (p == 1) return dropped_ok && (!mask_known || got_mask == 0);
  if (!mask_known) return kept_ok || dropped_ok;
  return got_mask == 1 ? kept_ok : dropped_ok;
}

void reference_clear_cache() {
  batch_norm_clear_cache();
}

}  // namespace oomless::ops
