#include "core/dtype.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace oomless {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::BF16:
      return "bfloat16";
    case DType::BFP8_B:
      return "bfloat8_b";
    case DType::I32:
      return "int32";
    case DType::U32:
      return "uint32";
  }
  return "?";
}

DType parse_dtype(std::string_view s, std::string_view op) {
  if (s == "float32" || s == "f32" || s == "fp32" || s == "float") return DType::F32;
  if (s == "bfloat16" || s == "bf16") return DType::BF16;
  if (s == "bfloat8_b" || s == "bfp8" || s == "bfp8_b" || s == "bf8") return DType::BFP8_B;
  if (s == "int32" || s == "i32") return DType::I32;
  if (s == "uint32" || s == "u32") return DType::U32;
  fail(op,
       fmt::format("unknown dtype '{}' (expected float32, bfloat16, bfloat8_b, int32, uint32)", s));
}

size_t element_size(DType t) {
  switch (t) {
    case DType::F32:
    case DType::I32:
    case DType::U32:
      return 4;
    case DType::BF16:
      return 2;
    case DType::BFP8_B:
      break;
  }
  fail("dtype", "bfloat8_b has no per-element size; it exists only as packed 32x32 tiles");
}

bool is_float(DType t) {
  return t == DType::F32 || t == DType::BF16 || t == DType::BFP8_B;
}

}  // namespace oomless
