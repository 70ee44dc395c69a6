// Tensor-level copies on top of the strided copy kernel, shared by the
// movement, concat and other families of this runtime.
#pragma once
#include <string_view>

#include "core/tensor.hpp"

namespace oomless::ops {

// Writes src's values into dst (same shape; any strides). Same dtype copies
// bits; f32 <-> bf16 converts (round to nearest even). Errors name `op`.
void copy_into(const Tensor& dst, const Tensor& src, std::string_view op);

// A new contiguous tensor with src's values: one read, one write.
Tensor clone_contiguous(const Tensor& src, std::string_view op);

// src itself when already contiguous, else clone_contiguous(src).
Tensor as_contiguous(const Tensor& src, std::string_view op);

// Host dtypes the movement kernels handle (all but bfloat8_b, a device format).
void check_host_dtype(const Tensor& t, std::string_view op, int input_index = 0);

}  // namespace oomless::ops
