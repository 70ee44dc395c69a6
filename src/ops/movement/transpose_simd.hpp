// Tiled 2-D transpose used by the strided copy (Highway, dynamic dispatch).
#pragma once
#include <cstdint>

namespace oomless::ops {

// Rows [r0, r1) of an R x C block, all C columns: element (r, c) is
// src[r + c*sa] and is written to dst[r*db + c].
void transpose_rows_simd(const uint16_t* src, uint16_t* dst, int64_t C, int64_t sa, int64_t db,
                         int64_t r0, int64_t r1);
void transpose_rows_simd(const uint32_t* src, uint32_t* dst, int64_t C, int64_t sa, int64_t db,
                         int64_t r0, int64_t r1);

}  // namespace oomless::ops
