#include "exec/device_tensor.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/bfp8.hpp"
#include "core/error.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::exec {

namespace {

// The tensor as [outer, H, W], the view every page walk needs.
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

// Element type of a device tensor's pages on the host side (bfloat8_b tiles are
// packed from and unpacked to f32).
DType page_host_dtype(DType d) {
  return d == DType::BFP8_B ? DType::F32 : d;
}

// `t` as a contiguous tensor of `dtype` (itself when it already is one).
Tensor contiguous_as(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  Tensor out = Tensor::empty(t.shape(), dtype);
  ops::copy_into(out, t, "device transfer");
  return out;
}

// Walks a TILE tensor one band of tiles (32 rows x all tile columns) at a
// time, in parallel over bands; `fn(band_first_page, o, th)` does the band.
template <class Fn>
void for_each_band(const Rows& r, Fn fn) {
  int64_t ht = div_up(r.h, kTileDim), wt = div_up(r.w, kTileDim);
  int64_t bands = r.outer * ht;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < bands; ++b) fn(b * wt, b / ht, b % ht);
}

// Host row `i` of band (o, th), or null for a padding row.
template <class T>
T* band_row(T* data, const Rows& r, int64_t o, int64_t th, int64_t i, size_t es) {
  int64_t h = th * kTileDim + i;
  if (h >= r.h) return nullptr;
  return data + ((o * r.h + h) * r.w) * static_cast<int64_t>(es);
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
  if (host.numel() == 0) return;
  Tensor src = contiguous_as(host, page_host_dtype(dst.dtype));
  const char* data = static_cast<const char*>(src.raw());
  size_t es = element_size(src.dtype());
  Rows r = rows_of(dst.shape);
  const device::Buffer& buf = *dst.buffer;
  auto row_bytes = static_cast<size_t>(r.w) * es;
  if (dst.layout == Layout::RowMajor) {
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < r.outer * r.h; ++row)
      std::memcpy(buf.page(row), data + row * static_cast<int64_t>(row_bytes), row_bytes);
    return;
  }
  int64_t wt = div_up(r.w, kTileDim);
  if (dst.dtype == DType::BFP8_B) {
    for_each_band(r, [&](int64_t page, int64_t o, int64_t th) {
      float tile[kTileElems];
      for (int64_t tw = 0; tw < wt; ++tw) {
        int64_t cols = std::min(kTileDim, r.w - tw * kTileDim);
        for (int64_t i = 0; i < kTileDim; ++i) {
          const char* row = band_row(data, r, o, th, i, es);
          float* t = tile + i * kTileDim;
          if (row) std::memcpy(t, row + tw * kTileDim * 4, static_cast<size_t>(cols) * 4);
          std::fill(t + (row ? cols : 0), t + kTileDim, 0.0f);
        }
        pack_bfp8_tile(tile, reinterpret_cast<uint8_t*>(buf.page(page + tw)));
      }
    });
    return;
  }
  // Tiles are 32 rows of 32 elements; padding is written as zeros.
  auto tile_row = static_cast<size_t>(kTileDim) * es;
  for_each_band(r, [&](int64_t page, int64_t o, int64_t th) {
    for (int64_t tw = 0; tw < wt; ++tw) {
      char* p = buf.page(page + tw);
      size_t bytes = static_cast<size_t>(std::min(kTileDim, r.w - tw * kTileDim)) * es;
      for (int64_t i = 0; i < kTileDim; ++i, p += tile_row) {
        const char* row = band_row(data, r, o, th, i, es);
        if (row) std::memcpy(p, row + tw * static_cast<int64_t>(tile_row), bytes);
        std::memset(p + (row ? bytes : 0), 0, tile_row - (row ? bytes : 0));
      }
    }
  });
}

Tensor read_pages(const DeviceTensor& src, DType host_dtype) {
  Tensor out = Tensor::empty(src.shape, page_host_dtype(src.dtype));
  read_pages_into(src, out);
  return contiguous_as(out, host_dtype);
}

void read_pages_into(const DeviceTensor& src, const Tensor& dst) {
  if (dst.shape() != src.shape) throw Error("read_pages: shape mismatch");
  if (dst.dtype() != page_host_dtype(src.dtype) || !dst.is_contiguous()) {
    Tensor tmp = Tensor::empty(src.shape, page_host_dtype(src.dtype));
    read_pages_into(src, tmp);
    ops::copy_into(dst, tmp, "device transfer");
    return;
  }
  const Tensor& out = dst;
  if (out.numel() == 0) return;
  char* data = static_cast<char*>(out.raw());
  size_t es = element_size(out.dtype());
  Rows r = rows_of(src.shape);
  const device::Buffer& buf = *src.buffer;
  auto row_bytes = static_cast<size_t>(r.w) * es;
  int64_t wt = div_up(r.w, kTileDim);
  auto tile_row = static_cast<size_t>(kTileDim) * es;
  if (src.layout == Layout::RowMajor) {
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < r.outer * r.h; ++row)
      std::memcpy(data + row * static_cast<int64_t>(row_bytes), buf.page(row), row_bytes);
  } else if (src.dtype == DType::BFP8_B) {
    for_each_band(r, [&](int64_t page, int64_t o, int64_t th) {
      float tile[kTileElems];
      for (int64_t tw = 0; tw < wt; ++tw) {
        unpack_bfp8_tile(reinterpret_cast<const uint8_t*>(buf.page(page + tw)), tile);
        int64_t cols = std::min(kTileDim, r.w - tw * kTileDim);
        for (int64_t i = 0; i < kTileDim; ++i)
          if (char* row = band_row(data, r, o, th, i, es))
            std::memcpy(row + tw * kTileDim * 4, tile + i * kTileDim,
                        static_cast<size_t>(cols) * 4);
      }
    });
  } else {
    for_each_band(r, [&](int64_t page, int64_t o, int64_t th) {
      for (int64_t tw = 0; tw < wt; ++tw) {
        const char* p = buf.page(page + tw);
        size_t bytes = static_cast<size_t>(std::min(kTileDim, r.w - tw * kTileDim)) * es;
        for (int64_t i = 0; i < kTileDim; ++i, p += tile_row)
          if (char* row = band_row(data, r, o, th, i, es))
            std::memcpy(row + tw * static_cast<int64_t>(tile_row), p, bytes);
      }
    });
  }
}

}  // namespace oomless::exec
