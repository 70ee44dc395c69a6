#include "python/dlpack_bridge.hpp"

#include <dlpack/dlpack.h>
#include <fmt/format.h>

#include "core/error.hpp"

namespace oomless::python {

namespace {

DType dtype_from_dl(DLDataType t, std::string_view what) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::F32;
    if (t.code == kDLBfloat && t.bits == 16) return DType::BF16;
    if (t.code == kDLInt && t.bits == 32) return DType::I32;
    if (t.code == kDLUInt && t.bits == 32) return DType::U32;
  }
  fail(what, fmt::format("unsupported dtype (DLPack code {}, {} bits); use float32 or bfloat16",
                         static_cast<int>(t.code), static_cast<int>(t.bits)));
}

DLDataType dl_from_dtype(DType d) {
  switch (d) {
    case DType::F32:
      return {kDLFloat, 32, 1};
    case DType::BF16:
      return {kDLBfloat, 16, 1};
    case DType::I32:
      return {kDLInt, 32, 1};
    case DType::U32:
      return {kDLUInt, 32, 1};
    case DType::BFP8_B:
      break;
  }
  throw Error("bfloat8_b tensors cannot leave the device");
}

// Owns what a capsule we export points to.
struct Export {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

}  // namespace

Tensor from_dlpack(py::capsule capsule, std::string_view what) {
  if (std::string_view(capsule.name()) != "dltensor")
    fail(what, "DLPack capsule was already consumed");
  auto* m = static_cast<DLManagedTensor*>(capsule.get_pointer());
  const DLTensor& t = m->dl_tensor;
  if (t.device.device_type != kDLCPU) fail(what, "tensor is not on the CPU");
  DType dtype = dtype_from_dl(t.dtype, what);
  Shape shape(t.shape, t.shape + t.ndim);
  Strides strides = t.strides ? Strides(t.strides, t.strides + t.ndim) : contiguous_strides(shape);
  // The extent of memory the view touches, for the storage's byte count.
  int64_t extent = 1;
  for (int i = 0; i < t.ndim; ++i)
    if (shape[i] == 0)
      extent = 0;
    else
      extent += (shape[i] - 1) * std::abs(strides[i]);
  capsule.set_name("used_dltensor");
  std::shared_ptr<void> owner(m, [](void* p) {
    auto* mt = static_cast<DLManagedTensor*>(p);
    if (mt->deleter) mt->deleter(mt);
  });
  char* data = static_cast<char*>(t.data) + t.byte_offset;
  auto storage = Storage::borrow(data, static_cast<size_t>(extent) * element_size(dtype), owner);
  return Tensor::wrap(storage, shape, strides, dtype, 0);
}

py::capsule to_dlpack(const Tensor& t) {
  auto* e = new Export{t, t.shape(), t.strides(), {}};
  DLTensor& d = e->managed.dl_tensor;
  d.data = t.raw();
  d.device = {kDLCPU, 0};
  d.ndim = static_cast<int32_t>(t.rank());
  d.dtype = dl_from_dtype(t.dtype());
  d.shape = e->shape.data();
  d.strides = e->strides.data();
  d.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* m) { delete static_cast<Export*>(m->manager_ctx); };
  return py::capsule(&e->managed, "dltensor", [](PyObject* cap) {
    // Only an unconsumed capsule still owns the tensor.
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    }
  });
}

Tensor from_buffer(py::buffer b, std::string_view what) {
  py::buffer_info info = b.request(/*writable=*/false);
  DType dtype;
  std::string f = info.format;
  if (f == "f")
    dtype = DType::F32;
  else if (f == "i" || (f == "l" && info.itemsize == 4))
    dtype = DType::I32;
  else if (f == "I")
    dtype = DType::U32;
  else
    fail(what, fmt::format("unsupported buffer format '{}'; use float32", f));
  Shape shape(info.shape.begin(), info.shape.end());
  Strides strides;
  for (auto s : info.strides) {
    if (s % info.itemsize) fail(what, "buffer strides are not a multiple of the item size");
    strides.push_back(s / info.itemsize);
  }
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 0)
      extent = 0;
    else
      extent += (shape[i] - 1) * std::abs(strides[i]);
  auto* keep = new py::buffer(b);
  std::shared_ptr<void> owner(keep, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::buffer*>(p);
  });
  auto storage = Storage::borrow(info.ptr, static_cast<size_t>(extent) * info.itemsize, owner);
  return Tensor::wrap(storage, shape, strides, dtype, 0);
}

}  // namespace oomless::python
