#include "core/bfp8.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/layout.hpp"
#include "core/tensor.hpp"

namespace oomless {

namespace {

constexpr uint32_t kSpecialExp = 255;
constexpr uint8_t kInfMag = 64;  // leading one at bit 6, zero fraction
constexpr uint8_t kNanMag = 96;  // leading one plus the quiet bit

inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Round (full >> shift) to nearest, ties to even; full < 2^24, shift >= 1.
inline uint32_t rne_shift(uint32_t full, uint32_t shift) {
  if (shift >= 32) return 0;  // full < 2^24 < half of 2^32: rounds to zero
  uint64_t f = full;
  uint64_t q = f >> shift;
  uint64_t rem = f & ((uint64_t{1} << shift) - 1);
  uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  return static_cast<uint32_t>(q);
}

// One value against shared exponent e (finite block: e < 255, or special block).
inline uint8_t encode(uint32_t u, uint32_t e) {
  uint32_t exp = (u >> 23) & 0xffu;
  uint8_t sign = static_cast<uint8_t>((u >> 31) << 7);
  if (exp == 0xffu) return sign | ((u & 0x7fffffu) ? kNanMag : kInfMag);
  if (exp == 0) return 0;  // zero or f32 denormal: flushed
  uint32_t full = (1u << 23) | (u & 0x7fffffu);
  uint32_t m = rne_shift(full, (e - exp) + 17);
  uint32_t cap = e == kSpecialExp ? kInfMag - 1u : 127u;
  if (m > cap) m = cap;
  if (m == 0) return 0;
  return static_cast<uint8_t>(sign | m);
}

inline float decode(uint8_t byte, uint32_t e) {
  uint32_t m = byte & 0x7fu;
  if (m == 0) return 0.0f;
  bool neg = (byte & 0x80u) != 0;
  float v;
  if (e == kSpecialExp && m >= kInfMag)
    v = m == kInfMag ? std::numeric_limits<float>::infinity()
                     : std::numeric_limits<float>::quiet_NaN();
  else
    v = std::ldexp(static_cast<float>(m), static_cast<int>(e) - 133);
  return neg ? -v : v;
}

// Row-major tile row and column of block b's first value.
inline void block_origin(int b, int& r, int& c0) {
  int face = b / 16;
  r = (face / 2) * 16 + b % 16;
  c0 = (face % 2) * 16;
}

}  // namespace

void pack_bfp8_tile(const float* tile, uint8_t* out) {
  uint8_t* values = out + kBfp8ExpBytes;
  for (int b = 0; b < 64; ++b) {
    int r, c0;
    block_origin(b, r, c0);
    const float* src = tile + r * 32 + c0;
    uint32_t u[16];
    uint32_t e = 0;
    for (int j = 0; j < 16; ++j) {
      u[j] = bits(src[j]);
      uint32_t exp = (u[j] >> 23) & 0xffu;
      if (exp > e) e = exp;  // inf/NaN have 255 and make this a special block
    }
    out[b] = static_cast<uint8_t>(e);
    for (int j = 0; j < 16; ++j) values[b * 16 + j] = encode(u[j], e);
  }
}

void unpack_bfp8_tile(const uint8_t* in, float* tile) {
  const uint8_t* values = in + kBfp8ExpBytes;
  for (int b = 0; b < 64; ++b) {
    int r, c0;
    block_origin(b, r, c0);
    uint32_t e = in[b];
    float* dst = tile + r * 32 + c0;
    for (int j = 0; j < 16; ++j) dst[j] = decode(values[b * 16 + j], e);
  }
}

int64_t bfp8_region_bytes(int64_t rows, int64_t cols) {
  return div_up(rows, kTileDim) * div_up(cols, kTileDim) * kBfp8TileBytes;
}

void pack_bfp8_region(const float* src, int64_t rows, int64_t cols, int64_t ld, uint8_t* out) {
  int64_t th = div_up(rows, kTileDim), tw = div_up(cols, kTileDim);
  float tile[kTileElems];
  for (int64_t ti = 0; ti < th; ++ti) {
    for (int64_t tj = 0; tj < tw; ++tj) {
      for (int64_t r = 0; r < kTileDim; ++r) {
        int64_t gr = ti * kTileDim + r;
        for (int64_t c = 0; c < kTileDim; ++c) {
          int64_t gc = tj * kTileDim + c;
          tile[r * kTileDim + c] = (gr < rows && gc < cols) ? src[gr * ld + gc] : 0.0f;
        }
      }
      pack_bfp8_tile(tile, out + (ti * tw + tj) * kBfp8TileBytes);
    }
  }
}

void unpack_bfp8_region(const uint8_t* in, int64_t rows, int64_t cols, float* dst, int64_t ld) {
  int64_t th = div_up(rows, kTileDim), tw = div_up(cols, kTileDim);
  float tile[kTileElems];
  for (int64_t ti = 0; ti < th; ++ti) {
    for (int64_t tj = 0; tj < tw; ++tj) {
      unpack_bfp8_tile(in + (ti * tw + tj) * kBfp8TileBytes, tile);
      for (int64_t r = 0; r < kTileDim; ++r) {
        int64_t gr = ti * kTileDim + r;
        if (gr >= rows) break;
        for (int64_t c = 0; c < kTileDim; ++c) {
          int64_t gc = tj * kTileDim + c;
          if (gc >= cols) break;
          dst[gr * ld + gc] = tile[r * kTileDim + c];
        }
      }
    }
  }
}

namespace {

// [batch, H, W] view of a shape as TT folds it (rank < 2 counts as [1, W]).
void fold_matrices(const Shape& s, int64_t& batch, int64_t& h, int64_t& w) {
  w = s.empty() ? 1 : s.back();
  h = s.size() < 2 ? 1 : s[s.size() - 2];
  batch = 1;
  for (size_t i = 0; i + 2 < s.size(); ++i) batch *= s[i];
}

}  // namespace

std::vector<uint8_t> pack_bfp8(const Tensor& t) {
  if (t.dtype() != DType::F32 && t.dtype() != DType::BF16)
    fail("bfloat8_b", fmt::format("cannot pack a {} tensor (expected float32 or bfloat16)",
                                  dtype_name(t.dtype())));
  Tensor f = t.to(DType::F32);  // contiguous f32
  int64_t batch, h, w;
  fold_matrices(t.shape(), batch, h, w);
  int64_t per = bfp8_region_bytes(h, w);
  std::vector<uint8_t> out(static_cast<size_t>(batch * per));
  const float* src = f.data<float>();
  for (int64_t b = 0; b < batch; ++b)
    pack_bfp8_region(src + b * h * w, h, w, w, out.data() + b * per);
  return out;
}

Tensor unpack_bfp8(const uint8_t* data, const Shape& shape, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail("bfloat8_b",
         fmt::format("cannot unpack into {} (expected float32 or bfloat16)", dtype_name(dtype)));
  Tensor f = Tensor::empty(shape, DType::F32);
  int64_t batch, h, w;
  fold_matrices(shape, batch, h, w);
  int64_t per = bfp8_region_bytes(h, w);
  float* dst = f.data<float>();
  for (int64_t b = 0; b < batch; ++b) unpack_bfp8_region(data + b * per, h, w, dst + b * h * w, w);
  return dtype == DType::F32 ? f : f.to(dtype);
}

}  // namespace oomless
