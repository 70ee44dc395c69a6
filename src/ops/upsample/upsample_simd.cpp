// upsample_nearest2d row kernels (Highway, dynamic dispatch). Rows are built
// once per source row and then replicated with memcpy; the common 2x width
// case duplicates lanes with StoreInterleaved2, other ratios gather by table.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/upsample/upsample_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "ops/upsample/kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One output row from one input row (NCHW).
template <class T>
void BuildRow(const UpsampleGeom& g, const T* src, T* dst) {
  if (g.OW == g.W) {
    std::memcpy(dst, src, static_cast<size_t>(g.W) * sizeof(T));
  } else if (g.OW == 2 * g.W) {
    const hn::ScalableTag<T> d;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    int64_t i = 0;
    for (; i + N <= g.W; i += N) {
      const auto v = hn::LoadU(d, src + i);
      hn::StoreInterleaved2(v, v, d, dst + 2 * i);
    }
    for (; i < g.W; ++i) dst[2 * i] = dst[2 * i + 1] = src[i];
  } else {
    for (int64_t o = 0; o < g.OW; ++o) dst[o] = src[g.src_w[o]];
  }
}

template <class T>
void Rows(const UpsampleGeom& g, const T* in, int64_t row0, T* out, int64_t oh0, int64_t oh1) {
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    T* dst = out + (oh - oh0) * g.OW;
    if (oh > oh0 && g.src_h[oh] == g.src_h[oh - 1])
      std::memcpy(dst, dst - g.OW, static_cast<size_t>(g.OW) * sizeof(T));
    else
      BuildRow(g, in + (g.src_h[oh] - row0) * g.W, dst);
  }
}

void Rows16(const UpsampleGeom& g, const uint16_t* in, int64_t row0, uint16_t* out, int64_t oh0,
            int64_t oh1) {
  Rows(g, in, row0, out, oh0, oh1);
}
void Rows32(const UpsampleGeom& g, const uint32_t* in, int64_t row0, uint32_t* out, int64_t oh0,
            int64_t oh1) {
  Rows(g, in, row0, out, oh0, oh1);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {
HWY_EXPORT(Rows16);
HWY_EXPORT(Rows32);

void upsample_nearest_rows(const UpsampleGeom& g, size_t elem_size, const void* in, int64_t in_row0,
                           void* out, int64_t oh0, int64_t oh1) {
  if (elem_size == 2)
    return HWY_DYNAMIC_DISPATCH(Rows16)(g, static_cast<const uint16_t*>(in), in_row0,
                                        static_cast<uint16_t*>(out), oh0, oh1);
  if (elem_size == 4)
    return HWY_DYNAMIC_DISPATCH(Rows32)(g, static_cast<const uint32_t*>(in), in_row0,
                                        static_cast<uint32_t*>(out), oh0, oh1);
  // Other sizes: byte copies per element.
  const char* s = static_cast<const char*>(in);
  char* d = static_cast<char*>(out);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow)
      std::memcpy(d + ((oh - oh0) * g.OW + ow) * elem_size,
                  s + ((g.src_h[oh] - in_row0) * g.W + g.src_w[ow]) * elem_size, elem_size);
}

void upsample_nearest_rows_nhwc(const UpsampleGeom& g, int64_t C, size_t elem_size, const void* in,
                                int64_t in_row0, void* out, int64_t oh0, int64_t oh1) {
  // A pixel is C contiguous elements: memcpy per pixel, memcpy repeated rows.
  const size_t pix = static_cast<size_t>(C) * elem_size, row = pix * static_cast<size_t>(g.OW);
  const char* s = static_cast<const char*>(in);
  char* d = static_cast<char*>(out);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    char* dst = d + (oh - oh0) * row;
    if (oh > oh0 && g.src_h[oh] == g.src_h[oh - 1]) {
      std::memcpy(dst, dst - row, row);
      continue;
    }
    const char* src = s + (g.src_h[oh] - in_row0) * g.W * pix;
    for (int64_t ow = 0; ow < g.OW; ++ow) std::memcpy(dst + ow * pix, src + g.src_w[ow] * pix, pix);
  }
}
}  // namespace oomless::ops
#endif
