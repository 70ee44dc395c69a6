#include "core/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "core/host_pool.hpp"

namespace oomless {

std::shared_ptr<Storage> Storage::allocate(size_t bytes) {
  std::shared_ptr<Storage> s(new Storage());
  if (bytes >= host_pool::kMinBlock) {
    s->data_ = host_pool::acquire(bytes, &s->pooled_);
  } else {
    host_pool::inject::check(bytes, "tensor");
    size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    s->data_ = std::aligned_alloc(64, rounded);
    if (!s->data_)
      throw HostOutOfMemory(fmt::format("host allocation of {} B failed", bytes),
                            static_cast<int64_t>(bytes));
  }
  s->bytes_ = bytes;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t bytes, std::shared_ptr<void> owner) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->bytes_ = bytes;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (!owned_) return;
  if (pooled_)
    host_pool::release(data_, pooled_);
  else
    std::free(data_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.storage_ = Storage::allocate(static_cast<size_t>(oomless::numel(shape)) * element_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::wrap(std::shared_ptr<Storage> storage, const Shape& shape, const Strides& strides,
                    DType dtype, int64_t offset) {
  Tensor t;
  t.storage_ = std::move(storage);
  t.shape_ = shape;
  t.strides_ = strides;
  t.dtype_ = dtype;
  t.offset_ = offset;
  return t;
}

int64_t Tensor::numel() const {
  return oomless::numel(shape_);
}

int64_t Tensor::size(int64_t dim) const {
  return shape_[normalize_dim(dim, rank(), "size")];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return numel() == 0;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::raw() const {
  return static_cast<char*>(storage_->data()) +
         offset_ * static_cast<int64_t>(element_size(dtype_));
}

// PyTorch's rule for viewing a strided tensor: each group of input dims that is
// contiguous in memory may be re-split; otherwise the view is impossible.
static bool view_strides(const Shape& old_shape, const Strides& old_strides, const Shape& shape,
                         Strides& out) {
  out.assign(shape.size(), 0);
  if (old_shape.empty()) {  // a scalar: any all-ones shape, strides 1 (as torch)
    out.assign(shape.size(), 1);
    return true;
  }
  if (oomless::numel(old_shape) == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 ||
        (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(const Shape& shape, std::string_view op) const {
  if (oomless::numel(shape) != numel())
    fail(op, fmt::format("shape {} is invalid for input of size {} (shape {})", shape_str(shape),
                         numel(), shape_str(shape_)));
  Strides st;
  if (!view_strides(shape_, strides_, shape, st))
    fail(op,
         fmt::format("view size {} is not compatible with input tensor's size {} and stride {}; "
                     "use reshape or contiguous() first",
                     shape_str(shape), shape_str(shape_), shape_str(strides_)));
  return wrap(storage_, shape, st, dtype_, offset_);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims, std::string_view op) const {
  if (static_cast<int64_t>(dims.size()) != rank())
    fail(op, fmt::format("number of dims {} does not match tensor rank {}", dims.size(), rank()));
  Shape s(dims.size());
  Strides st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = normalize_dim(dims[i], rank(), op);
    if (seen[d])
      fail(op, fmt::format("dim {} appears more than once in dims {}", dims[i], shape_str(dims)));
    seen[d] = true;
    s[i] = shape_[d];
    st[i] = strides_[d];
  }
  return wrap(storage_, s, st, dtype_, offset_);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1, std::string_view op) const {
  if (rank() == 0) {
    normalize_dim(d0, 0, op);
    normalize_dim(d1, 0, op);
    return *this;
  }
  int64_t a = normalize_dim(d0, rank(), op), b = normalize_dim(d1, rank(), op);
  Shape s = shape_;
  Strides st = strides_;
  std::swap(s[a], s[b]);
  std::swap(st[a], st[b]);
  return wrap(storage_, s, st, dtype_, offset_);
}

Tensor Tensor::unsqueeze(int64_t dim, std::string_view op) const {
  int64_t d = normalize_dim(dim, rank() + 1, op);
  Shape s = shape_;
  Strides st = strides_;
  int64_t stride = d < rank() ? strides_[d] * shape_[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return wrap(storage_, s, st, dtype_, offset_);
}

Tensor Tensor::expand(const Shape& shape, std::string_view op) const {
  if (shape.size() < shape_.size())
    fail(op, fmt::format("the number of sizes provided ({}) must be greater or equal to the number "
                         "of dimensions in the tensor ({})",
                         shape.size(), shape_.size()));
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < -1)
      fail(op, fmt::format("invalid size {} at dim {} of {} (a size is >= 0, or -1 to keep the "
                           "existing size)",
                           shape[i], i, shape_str(shape)));
  size_t lead = shape.size() - shape_.size();
  Shape s(shape.size());
  Strides st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t want = shape[i];
    if (i < lead) {
      if (want < 0)
        fail(op, fmt::format("size -1 is not allowed in a leading, new dimension ({})", i));
      s[i] = want;
      continue;
    }
    int64_t have = shape_[i - lead];
    if (want == -1) want = have;
    if (have == want) {
      s[i] = have;
      st[i] = strides_[i - lead];
    } else if (have == 1) {
      s[i] = want;
    } else {
      fail(op,
           fmt::format("the expanded size {} must match the existing size {} at dim {} (shape {})",
                       want, have, i, shape_str(shape_)));
    }
  }
  return wrap(storage_, s, st, dtype_, offset_);
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  int64_t d = normalize_dim(dim, rank(), "narrow");
  Shape s = shape_;
  s[d] = length;
  return wrap(storage_, s, strides_, dtype_, offset_ + start * strides_[d]);
}

void for_each_offset(const Shape& shape, const Strides& strides,
                     const std::function<void(int64_t)>& fn) {
  int64_t n = oomless::numel(shape);
  if (n == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(off);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_);
  size_t es = element_size(dtype_);
  if (is_contiguous()) {
    std::memcpy(out.raw(), raw(), nbytes());
    return out;
  }
  // Trailing dims laid out contiguously form one run: copy runs, not elements
  // (a narrowed middle dim keeps MB-long runs; element-wise it ran ~20x slower).
  size_t k = shape_.size();
  int64_t run = 1;
  while (k > 0 && (shape_[k - 1] == 1 || strides_[k - 1] == run)) run *= shape_[--k];
  const Shape outer(shape_.begin(), shape_.begin() + static_cast<int64_t>(k));
  const Strides outer_strides(strides_.begin(), strides_.begin() + static_cast<int64_t>(k));
  const char* src = static_cast<const char*>(raw());
  char* dst = static_cast<char*>(out.raw());
  const size_t run_bytes = static_cast<size_t>(run) * es;
  for_each_offset(outer, outer_strides, [&](int64_t off) {
    std::memcpy(dst, src + off * static_cast<int64_t>(es), run_bytes);
    dst += run_bytes;
  });
  return out;
}

Tensor Tensor::contiguous() const {
  return is_contiguous() ? *this : clone();
}

static double load(const void* p, DType t) {
  switch (t) {
    case DType::F32:
      return *static_cast<const float*>(p);
    case DType::BF16:
      return bf16_to_f32(*static_cast<const uint16_t*>(p));
    case DType::I32:
      return *static_cast<const int32_t*>(p);
    case DType::U32:
      return *static_cast<const uint32_t*>(p);
    case DType::BFP8_B:
      break;
  }
  throw Error("bfloat8_b host element access");
}

static void store(void* p, DType t, double v) {
  switch (t) {
    case DType::F32:
      *static_cast<float*>(p) = static_cast<float>(v);
      return;
    case DType::BF16:
      *static_cast<uint16_t*>(p) = f32_to_bf16(static_cast<float>(v));
      return;
    case DType::I32:
      *static_cast<int32_t*>(p) = static_cast<int32_t>(v);
      return;
    case DType::U32:
      *static_cast<uint32_t*>(p) = static_cast<uint32_t>(v);
      return;
    case DType::BFP8_B:
      break;
  }
  throw Error("bfloat8_b host element access");
}

static int64_t linear_to_offset(const Shape& shape, const Strides& strides, int64_t linear) {
  int64_t off = 0;
  for (size_t d = shape.size(); d-- > 0;) {
    off += (linear % shape[d]) * strides[d];
    linear /= shape[d];
  }
  return off;
}

double Tensor::get(int64_t linear) const {
  int64_t off = linear_to_offset(shape_, strides_, linear);
  return load(static_cast<const char*>(raw()) + off * static_cast<int64_t>(element_size(dtype_)),
              dtype_);
}

void Tensor::set(int64_t linear, double v) const {
  int64_t off = linear_to_offset(shape_, strides_, linear);
  store(static_cast<char*>(raw()) + off * static_cast<int64_t>(element_size(dtype_)), dtype_, v);
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return contiguous();
  Tensor out = empty(shape_, dtype);
  Tensor src = contiguous();
  int64_t n = numel();
  if (dtype_ == DType::BF16 && dtype == DType::F32) {
    const uint16_t* s = src.data<uint16_t>();
    float* d = out.data<float>();
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
  } else if (dtype_ == DType::F32 && dtype == DType::BF16) {
    const float* s = src.data<float>();
    uint16_t* d = out.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out.set(i, src.get(i));
  }
  return out;
}

}  // namespace oomless
