// Element types. Host tensors hold f32, bf16, int32 or uint32; bfloat8_b exists
// only as a device page format (TT block float: 1088 B per 32x32 tile).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace oomless {

enum class DType : uint8_t { F32, BF16, BFP8_B, I32, U32 };

std::string_view dtype_name(DType t);
// Accepts the long names (float32, bfloat16, bfloat8_b, int32, uint32) and short ones
// (f32, bf16, bfp8, i32, u32). Throws InvalidArgument naming `op` otherwise.
DType parse_dtype(std::string_view s, std::string_view op = "dtype");
// Bytes per element on the host; bfloat8_b has no host element size and throws.
size_t element_size(DType t);
bool is_float(DType t);

// bfloat16: the upper half of an IEEE f32. Round to nearest even; NaN stays NaN
// (quiet bit forced so the truncated payload cannot become an infinity).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_f32(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round an f32 to the nearest bf16 value, kept in f32.
inline float round_bf16(float f) {
  return bf16_to_f32(f32_to_bf16(f));
}

}  // namespace oomless
