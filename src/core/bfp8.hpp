// Tenstorrent bfloat8_b ("BFP8_B") block float, as the device stores one 32x32 tile.
//
// Tile layout (1088 B), checked against tenstorrent/tt-metal
// tt_metal/impl/data_format/blockfloat_common.cpp (declared in
// tt_metal/api/tt-metalium/blockfloat_common.hpp: pack_fp32_vec_as_bfp_tiles,
// convert_u32_to_bfp, convert_bfp_to_u32) and tt_metal/api/tt-metalium/bfloat8.hpp:
//   * A tile is four 16x16 faces in the order top-left, top-right, bottom-left,
//     bottom-right; each face is stored row-major. Each face row (16 consecutive
//     values in this order) is one block sharing one exponent.
//   * Bytes [0, 64): the 64 shared exponents, block order (face 0 rows 0..15, face 1
//     rows 0..15, ...). For bfloat8_b ("_b": exponent of type B) each is the 8-bit
//     IEEE f32 biased exponent, no rebias. tt-metal writes them little-endian four per
//     dword, i.e. byte i is block i.
//   * Bytes [64, 1088): one byte per value in the same face order: bit 7 = sign, bits
//     0..6 = magnitude m with the leading one explicit, aligned to the shared exponent
//     e, so |value| = m * 2^(e - 127 - 6).
//
// Encoding of a block (our choices where tt-metal leaves room, all tested):
//   * e = the largest biased exponent among the 16 values; m = |x| * 2^(133 - e)
//     rounded to nearest, ties to even, on the exact value (tt-metal truncates the
//     alignment shift before rounding, so it can differ from us on values that are a
//     tie only after truncation). A value that rounds to 128 saturates to 127 (like
//     tt-metal; the exponent is never bumped). Round-trip error per value is at most
//     half a unit of m (2^(e-134)), or one unit (2^(e-133)) when saturated.
//   * Zero and f32 denormals (biased exponent 0) encode as m = 0 and do not raise the
//     shared exponent; f32 denormals therefore flush to zero. Decoding never yields -0
//     (the sign is dropped when m = 0, as tt-metal does). Decoding is exact in f32 and
//     gives denormals only for hand-made bytes (m < 64 with a small e).
//   * Non-finite: a block holding an inf or NaN gets e = 255. inf encodes as m = 64
//     (sign kept) and decodes to inf; NaN encodes as m = 96 and decodes to a quiet NaN
//     with its sign (tt-metal can turn a NaN whose payload sits in low bits into inf;
//     we never do). Finite values in such a block are encoded against e = 255 with m
//     capped at 63 so they never alias inf/NaN: they keep their value only if it is at
//     least 2^122; smaller ones flush to zero (the same loss as any huge block neighbour).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace oomless {

class Tensor;

constexpr int64_t kBfp8TileBytes = 1088;  // 64 exponent bytes + 1024 value bytes
constexpr int64_t kBfp8ExpBytes = 64;

// Index, in face order, of the value at row r, column c (0..31) of a tile.
constexpr int bfp8_face_index(int r, int c) {
  return ((r / 16) * 2 + (c / 16)) * 256 + (r % 16) * 16 + (c % 16);
}

// tile: 32x32 f32 row-major; out: 1088 bytes.
void pack_bfp8_tile(const float* tile, uint8_t* out);
// in: 1088 bytes; tile: 32x32 f32 row-major.
void unpack_bfp8_tile(const uint8_t* in, float* tile);

// Packs a rows x cols f32 region (row-major, leading dimension ld elements) into
// div_up(rows,32) x div_up(cols,32) tiles in row-major tile order, zero padded.
// `out` holds bfp8_region_bytes(rows, cols) bytes.
int64_t bfp8_region_bytes(int64_t rows, int64_t cols);
void pack_bfp8_region(const float* src, int64_t rows, int64_t cols, int64_t ld, uint8_t* out);
// Inverse: writes the rows x cols region (padding is dropped).
void unpack_bfp8_region(const uint8_t* in, int64_t rows, int64_t cols, float* dst, int64_t ld);

// A whole host tensor (f32 or bf16, any strides) as TT stores it in TILE layout:
// leading dims fold into height, each [H, W] matrix padded to multiples of 32
// separately, tiles row-major. Size = page_spec(shape, BFP8_B, Tile).total_bytes().
std::vector<uint8_t> pack_bfp8(const Tensor& t);
// Inverse, producing a contiguous tensor of `shape` in `dtype` (f32 or bf16).
Tensor unpack_bfp8(const uint8_t* data, const Shape& shape, DType dtype = DType::F32);

}  // namespace oomless
