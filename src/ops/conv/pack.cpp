#include "ops/conv/pack.hpp"

#include <algorithm>
#include <cstring>

#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::conv {

namespace detail {

void pack_run_generic(const RowRun& r) {
  for (int64_t k = 0; k < r.units; ++k) {
    uint32_t* d = r.dst + k * 32 + r.l0;
    const uintptr_t base = reinterpret_cast<uintptr_t>(r.x) + static_cast<uintptr_t>(k * r.cstep);
    const bool second = r.bf16 && !(r.odd && k == r.units - 1);
    for (int l = 0; l < r.len; ++l) {
      uint32_t u = 0;
      if (l >= r.d_lo && l < r.d_hi) {
        const uintptr_t at = base + static_cast<uintptr_t>(l * r.sw * (r.bf16 ? 2 : 4));
        if (r.bf16) {
          uint16_t lo, hi = 0;
          std::memcpy(&lo, reinterpret_cast<const void*>(at), 2);
          if (second) std::memcpy(&hi, reinterpret_cast<const void*>(at + r.xs_c), 2);
          u = lo | static_cast<uint32_t>(hi) << 16;
        } else {
          std::memcpy(&u, reinterpret_cast<const void*>(at), 4);
        }
      }
      d[l] = u;
    }
  }
}

}  // namespace detail

void pack_nchw_panels(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks,
                      uint32_t* dst) {
  const bool avx512 = gemm::detail::isa().pack != gemm::detail::generic_pack;
  auto run = avx512 ? detail::pack_run_avx512 : detail::pack_run_generic;
  const int64_t es = p.bf16 ? 2 : 4, P = p.OH * p.OW;
  const int64_t cper = p.bf16 ? 2 : 1;  // channels per unit
  for (int64_t q = q0; q < q1; ++q) {
    uint32_t* d = dst + (q - q0) * ks * 32;
    const int64_t p0 = q * 32, nl = std::min<int64_t>(32, P - p0);
    if (nl < 32)  // lanes past the plane
      for (int64_t s = 0; s < ks; ++s) std::memset(d + s * 32 + nl, 0, (32 - nl) * 4);
    for (int64_t l = 0; l < nl;) {
      const int64_t oh = (p0 + l) / p.OW, ow = (p0 + l) % p.OW;
      const int len = static_cast<int>(std::min(nl - l, p.OW - ow));
      const int64_t gh = p.row0 + oh;
      for (int64_t t = s0 / p.upt; t * p.upt < s0 + ks; ++t) {
        const int64_t u0 = std::max(s0, t * p.upt) - t * p.upt;
        const int64_t u1 = std::min(s0 + ks, (t + 1) * p.upt) - t * p.upt;
        const int64_t i = t / p.kw, j = t % p.kw;
        const int64_t ih = gh * p.sh - p.ph + i * p.dh;
        const int64_t base = ow * p.sw - p.pw + j * p.dw;  // input column of lane l
        detail::RowRun r;
        r.dst = d + (t * p.upt + u0 - s0) * 32;
        r.units = u1 - u0;
        r.l0 = static_cast<int>(l);
        r.len = len;
        if (ih < 0 || ih >= p.full_h) {
          r.d_lo = r.d_hi = 0;  // the whole run is padding
        } else {
          r.d_lo =
              base >= 0 ? 0 : static_cast<int>(std::min<int64_t>(len, (-base + p.sw - 1) / p.sw));
          const int64_t last = p.W - 1 - base;  // d * sw <= last
          r.d_hi = last < 0 ? r.d_lo
                            : static_cast<int>(std::clamp<int64_t>(last / p.sw + 1, r.d_lo, len));
        }
        const int64_t c0 = u0 * cper;
        const intptr_t row = reinterpret_cast<intptr_t>(p.x) +
                             ((c0 * p.xs_c + (ih - p.in_row0) * p.xs_h + base) * es);
        r.x = reinterpret_cast<const char*>(row);
        r.cstep = cper * p.xs_c * es;
        r.xs_c = p.xs_c * es;
        r.sw = p.sw;
        r.bf16 = p.bf16;
        r.odd = p.bf16 && p.cpg % 2 == 1 && u1 == p.upt;
        run(r);
      }
      l += len;
    }
  }
}

}  // namespace oomless::ops::conv
