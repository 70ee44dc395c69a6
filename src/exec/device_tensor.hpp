// Tensors whose data lives in the emulated device's arenas. Pages follow
// tt-metal: TILE pages are 32x32 tiles (elements row-major inside the tile,
// bfloat8_b packed as TT stores it), ROW_MAJOR pages are rows; padding is zero.
#pragma once
#include <memory>

#include "core/layout.hpp"
#include "core/tensor.hpp"
#include "device/device.hpp"

namespace oomless::exec {

struct DeviceTensor {
  std::shared_ptr<device::Buffer> buffer;
  Shape shape;
  DType dtype = DType::BF16;  // device dtype (may be bfloat8_b)
  Layout layout = Layout::Tile;
};

// Allocates a buffer (throws device::OutOfMemory) without writing it.
DeviceTensor allocate_on(device::Device& dev, const Shape& shape, DType dtype, Layout layout,
                         device::BufferType type);
// Writes a host tensor (f32 or bf16, any strides) into a device tensor of the same shape.
void write_pages(const Tensor& host, const DeviceTensor& dst);
// Reads a device tensor into a new contiguous host tensor of `host_dtype`.
Tensor read_pages(const DeviceTensor& src, DType host_dtype);
// Reads a device tensor into an existing host tensor of the same shape (any
// strides and float dtype; contiguous tensors of the page dtype take no copy).
void read_pages_into(const DeviceTensor& src, const Tensor& dst);

inline DeviceTensor upload(device::Device& dev, const Tensor& host, DType dtype, Layout layout,
                           device::BufferType type) {
  DeviceTensor t = allocate_on(dev, host.shape(), dtype, layout, type);
  write_pages(host, t);
  return t;
}

}  // namespace oomless::exec
