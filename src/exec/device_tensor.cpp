#include "exec/device_tensor.hpp"

#include <cstring>
#include <vector>

#include "core/bfp8.hpp"
#include "core/error.hpp"

namespace oomless::exec {

namespace {

// The tensor as [outer, H, W] rows of f32, the view every page walk needs.
struct Rows {
  int64_t outer = 1, h = 1, w = 1;
};

Rows rows_of(const Shape& s) {
  Rows r;
  if (s.empty()) return r;
  r.w = s.back();
  if (s.size() >= 2) r.h = s[s.size() - 2];
  for (size_t i = 0; i + 2 < s.size(); ++i) r.outer *= s[i];
  return r;
}

// Converts `n` host elements to the device element type (f32 or bf16).
void store_row(const float* src, int64_t n, DType dtype, char* dst) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else {
    auto* d = reinterpret_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
  }
}

void load_row(const char* src, int64_t n, DType dtype, float* dst) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else {
    auto* s = reinterpret_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
  }
}

}  // namespace

DeviceTensor allocate_on(device::Device& dev, const Shape& shape, DType dtype, Layout layout,
                         device::BufferType type) {
  PageSpec ps = page_spec(shape, dtype, layout);
  DeviceTensor t;
  t.buffer = dev.allocate(type, ps.num_pages, ps.page_size);
  t.shape = shape;
  t.dtype = dtype;
  t.layout = layout;
  return t;
}

void write_pages(const Tensor& host, const DeviceTensor& dst) {
  if (host.shape() != dst.shape) throw Error("write_pages: shape mismatch");
  if (!dst.buffer->page(0) && dst.buffer->footprint().num_pages > 0)
    throw Error("write_pages: device is not backed by memory");
  Tensor src = host.to(DType::F32);  // contiguous f32 rows
  const float* data = src.data<float>();
  Rows r = rows_of(dst.shape);
  if (dst.layout == Layout::RowMajor) {
    for (int64_t row = 0; row < r.outer * r.h; ++row)
      store_row(data + row * r.w, r.w, dst.dtype, dst.buffer->page(row));
    return;
  }
  int64_t ht = div_up(r.h, kTileDim), wt = div_up(r.w, kTileDim);
  size_t es = dst.dtype == DType::BFP8_B ? 0 : element_size(dst.dtype);
  std::vector<float> tile(kTileElems);
  int64_t page = 0;
  for (int64_t o = 0; o < r.outer; ++o)
    for (int64_t th = 0; th < ht; ++th)
      for (int64_t tw = 0; tw < wt; ++tw, ++page) {
        std::fill(tile.begin(), tile.end(), 0.0f);
        int64_t rows = std::min(kTileDim, r.h - th * kTileDim);
        int64_t cols = std::min(kTileDim, r.w - tw * kTileDim);
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(&tile[i * kTileDim],
                      data + (o * r.h + th * kTileDim + i) * r.w + tw * kTileDim,
                      static_cast<size_t>(cols) * 4);
        char* p = dst.buffer->page(page);
        if (dst.dtype == DType::BFP8_B)
          pack_bfp8_tile(tile.data(), reinterpret_cast<uint8_t*>(p));
        else
          for (int64_t i = 0; i < kTileDim; ++i)
            store_row(&tile[i * kTileDim], kTileDim, dst.dtype,
                      p + i * kTileDim * static_cast<int64_t>(es));
      }
}

Tensor read_pages(const DeviceTensor& src, DType host_dtype) {
  Tensor out = Tensor::empty(src.shape, DType::F32);
  float* data = out.data<float>();
  Rows r = rows_of(src.shape);
  if (src.layout == Layout::RowMajor) {
    for (int64_t row = 0; row < r.outer * r.h; ++row)
      load_row(src.buffer->page(row), r.w, src.dtype, data + row * r.w);
    return out.to(host_dtype);
  }
  int64_t ht = div_up(r.h, kTileDim), wt = div_up(r.w, kTileDim);
  size_t es = src.dtype == DType::BFP8_B ? 0 : element_size(src.dtype);
  std::vector<float> tile(kTileElems);
  int64_t page = 0;
  for (int64_t o = 0; o < r.outer; ++o)
    for (int64_t th = 0; th < ht; ++th)
      for (int64_t tw = 0; tw < wt; ++tw, ++page) {
        const char* p = src.buffer->page(page);
        if (src.dtype == DType::BFP8_B)
          unpack_bfp8_tile(reinterpret_cast<const uint8_t*>(p), tile.data());
        else
          for (int64_t i = 0; i < kTileDim; ++i)
            load_row(p + i * kTileDim * static_cast<int64_t>(es), kTileDim, src.dtype,
                     &tile[i * kTileDim]);
        int64_t rows = std::min(kTileDim, r.h - th * kTileDim);
        int64_t cols = std::min(kTileDim, r.w - tw * kTileDim);
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(data + (o * r.h + th * kTileDim + i) * r.w + tw * kTileDim,
                      &tile[i * kTileDim], static_cast<size_t>(cols) * 4);
      }
  return out.to(host_dtype);
}

}  // namespace oomless::exec
