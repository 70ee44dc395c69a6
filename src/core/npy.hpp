// Minimal .npy (NumPy format 1.0/2.0) reading and writing for the CLI's
// --input/--output. numpy has no bfloat16: bf16 tensors are written as float32.
#pragma once
#include <string>

#include "core/tensor.hpp"

namespace oomless {

// Reads float32/float64/float16/int32/int64 little-endian C-order arrays
// (float64 and float16 become float32, int64 becomes int32 when in range).
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);

}  // namespace oomless
