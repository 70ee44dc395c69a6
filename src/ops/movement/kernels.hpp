// Strided copy: the one data-movement kernel behind clone, copy, cat and
// contiguous(). A plan coalesces dims once; the kernel copies any sub-range of
// the plan's iteration order, so callers may chunk and thread freely.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace oomless::ops {

constexpr int kMaxCopyRank = 16;

struct CopyPlan {
  enum class Mode : uint8_t {
    Contig,     // innermost dim contiguous in src and dst: memcpy runs
    Transpose,  // innermost dst dim contiguous, dim rank-2 contiguous in src: tiled
    Strided,    // anything else: element loop
  };
  Mode mode = Mode::Contig;
  int rank = 1;  // >= 1; size-1 dims dropped, mergeable dims merged
  std::array<int64_t, kMaxCopyRank> shape{}, src_stride{}, dst_stride{};  // elements
  int64_t numel = 0;
  size_t elem_size = 4;
};

// Plans copying `shape` from src strides to dst strides (elements). The
// iteration order may differ from row-major (Transpose mode moves the dim that
// is contiguous in src next to the innermost one); ranges refer to that order.
// Errors name `op` (rank beyond kMaxCopyRank after coalescing).
CopyPlan plan_copy(const Shape& shape, const Strides& src, const Strides& dst, size_t elem_size,
                   std::string_view op);

// Copies the plan's elements [i0, i1) (bit-exact). `src`/`dst` point at element 0.
void copy_range(const CopyPlan& plan, const void* src, void* dst, int64_t i0, int64_t i1);

// Same, converting between f32 and bf16 (f32 -> bf16 rounds to nearest even).
// `plan.elem_size` is ignored; the element sizes come from the dtypes.
void convert_range(const CopyPlan& plan, const void* src, DType src_dtype, void* dst,
                   DType dst_dtype, int64_t i0, int64_t i1);

// Whole plan on the OpenMP threads (fixed split; results never depend on it).
void copy_parallel(const CopyPlan& plan, const void* src, void* dst);
void convert_parallel(const CopyPlan& plan, const void* src, DType src_dtype, void* dst,
                      DType dst_dtype);

}  // namespace oomless::ops
