// Reads a safetensors file (docs/graph-format.md, `weights`) by mmap: tensors
// borrow the mapping, so weights cost host memory only as they are read.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/tensor.hpp"

namespace oomless {

struct SafeTensor {
  std::string dtype;  // as in the file: BF16, F32, I64, ...
  Shape shape;
  Tensor tensor;  // contiguous, borrowing the mapping; undefined for other dtypes
};

// Throws InvalidArgument naming the file and the bad value.
std::map<std::string, SafeTensor> read_safetensors(const std::string& path);

}  // namespace oomless
