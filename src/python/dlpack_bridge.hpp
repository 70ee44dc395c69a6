// Zero-copy exchange of tensors with torch and numpy: DLPack capsules (bf16
// included) and the buffer protocol.
#pragma once
#include <pybind11/pybind11.h>

#include "core/tensor.hpp"

namespace oomless::python {

namespace py = pybind11;

// Wraps a "dltensor" capsule's memory (consumes the capsule); CPU only.
Tensor from_dlpack(py::capsule capsule, std::string_view what);
// A "dltensor" capsule sharing `t`'s storage.
py::capsule to_dlpack(const Tensor& t);
// Wraps an object exporting the buffer protocol (float32, int32, uint32).
Tensor from_buffer(py::buffer b, std::string_view what);

}  // namespace oomless::python
