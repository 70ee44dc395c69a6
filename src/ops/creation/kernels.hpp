// Creation kernels: fill any element range [i0, i1) of a contiguous buffer.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.hpp"
#include "ops/op.hpp"

namespace oomless::ops {

// Writes the element `value` (elem_size bytes) to dst[i0, i1).
void fill_range(void* dst, size_t elem_size, const void* value, int64_t i0, int64_t i1);

// The dtype `ones` produces for a call (see the TODO in exec.cpp).
DType creation_dtype(const OpCall& call);

}  // namespace oomless::ops
