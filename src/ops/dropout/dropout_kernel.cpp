// Scalar Philox dropout, the definition the SIMD kernel must match bit for bit:
// one Philox call yields the keep bits of 4 elements.
#include <cstring>

#include "ops/dropout/kernels.hpp"

namespace oomless::ops {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    const uint64_t p0 = uint64_t{kM0} * c[0], p1 = uint64_t{kM1} * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
  }
  return c;
}

namespace {

std::array<uint32_t, 4> block(uint64_t seed, uint64_t q) {
  return philox4x32_10({static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), 0, 0},
                       {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

inline bool keep_word(uint32_t w, double keep_p) {
  return static_cast<double>(w >> 8) * 0x1p-24 < keep_p;
}

template <class T>
float load(const T* p) {
  if constexpr (sizeof(T) == 2)
    return bf16_to_f32(*p);
  else
    return *p;
}

template <class T>
void store(float v, T* p) {
  if constexpr (sizeof(T) == 2)
    *p = f32_to_bf16(v);
  else
    *p = v;
}

template <class T>
void range(const T* in, T* out, T* mask, int64_t count, uint64_t first, uint64_t seed, double p) {
  const double keep_p = 1.0 - p;
  const float scale = keep_p == 0 ? 0.0f : static_cast<float>(1.0 / keep_p);
  std::array<uint32_t, 4> words{};
  uint64_t have = ~uint64_t{0};  // counter of `words`
  for (int64_t j = 0; j < count; ++j) {
    const uint64_t g = first + static_cast<uint64_t>(j);
    if (g / 4 != have) {
      have = g / 4;
      words = block(seed, have);
    }
    const float m = keep_word(words[g % 4], keep_p) ? 1.0f : 0.0f;
    store((load(in + j) * m) * scale, out + j);
    store(m, mask + j);
  }
}

}  // namespace

bool dropout_keep(uint64_t seed, uint64_t g, double p) {
  return keep_word(block(seed, g / 4)[g % 4], 1.0 - p);
}

void dropout_range_scalar(const float* in, float* out, float* mask, int64_t count, uint64_t first,
                          uint64_t seed, double p) {
  range(in, out, mask, count, first, seed, p);
}

void dropout_range_scalar(const uint16_t* in, uint16_t* out, uint16_t* mask, int64_t count,
                          uint64_t first, uint64_t seed, double p) {
  range(in, out, mask, count, first, seed, p);
}

}  // namespace oomless::ops
