// Host tensors: shared storage plus a strided view (shape, strides and offset in
// elements). Views share storage; `contiguous()` copies only when needed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace oomless {

// A block of bytes: owned (64-byte aligned) or borrowed from numpy/torch, kept
// alive by `owner`.
class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t bytes);
  static std::shared_ptr<Storage> borrow(void* data, size_t bytes, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool owned_ = false;
  size_t pooled_ = 0;  // size of the host_pool block, 0 when from malloc or borrowed
  std::shared_ptr<void> owner_;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype);
  static Tensor zeros(const Shape& shape, DType dtype);
  // A view over existing memory (strides in elements).
  static Tensor wrap(std::shared_ptr<Storage> storage, const Shape& shape, const Strides& strides,
                     DType dtype, int64_t offset = 0);

  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  DType dtype() const { return dtype_; }
  int64_t offset() const { return offset_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const;
  int64_t size(int64_t dim) const;  // dim may be negative
  bool defined() const { return storage_ != nullptr; }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Pointer to element [0,...,0].
  void* raw() const;
  template <class T>
  T* data() const {
    return static_cast<T*>(raw());
  }

  // Views (no copy). Errors name `op`.
  Tensor view(const Shape& shape, std::string_view op = "view") const;
  Tensor permute(const std::vector<int64_t>& dims, std::string_view op = "permute") const;
  Tensor transpose(int64_t d0, int64_t d1, std::string_view op = "transpose") const;
  Tensor unsqueeze(int64_t dim, std::string_view op = "unsqueeze") const;
  Tensor expand(const Shape& shape, std::string_view op = "expand") const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;

  // A contiguous tensor with the same values (this one if already contiguous).
  Tensor contiguous() const;
  // A contiguous copy, always new storage.
  Tensor clone() const;
  // Same values converted to another dtype (f32 <-> bf16 <-> int).
  Tensor to(DType dtype) const;

  // Slow element access for references and verification (linear index in
  // row-major logical order).
  double get(int64_t linear) const;
  void set(int64_t linear, double v) const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
};

// Calls fn(offset_in_elements) for every element of a strided view, in row-major order.
void for_each_offset(const Shape& shape, const Strides& strides,
                     const std::function<void(int64_t)>& fn);

}  // namespace oomless
