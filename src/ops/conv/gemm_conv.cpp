#include "ops/conv/gemm_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "ops/conv/common.hpp"
#include "ops/conv/pack.hpp"
#include "ops/conv/weight_cache.hpp"
#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::conv {

namespace {

using gemm::detail::kMR;
using gemm::detail::kNR;
using gemm::detail::Seg;
using gemm::detail::TileStore;
using gemm::detail::UkArgs;
using gemm::detail::Ukernel;

int64_t div_up(int64_t v, int64_t m) {
  return (v + m - 1) / m;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

// Steps per K block: the B micro-panel (32 units per step) stays in L1 while the
// 14-row A panels stream from L2.
int64_t kc_steps() {
  return std::max<int64_t>(16, env_int("OOMLESS_CONV_KC", 2048));
}
constexpr int64_t kMCTiles = 12;        // row tiles per block: 168 rows
constexpr int64_t kNCPanels = 16;       // column panels per block: 512 columns
constexpr int64_t kMaxGroupBlocks = 8;  // row blocks per task when partial sums are kept

// A 64-byte aligned scratch buffer that only grows.
struct Buf {
  void* p = nullptr;
  size_t cap = 0;
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { std::free(p); }
  template <class T>
  T* get(int64_t count) {
    const size_t bytes =
        (std::max<size_t>(static_cast<size_t>(count) * sizeof(T), 64) + 63) / 64 * 64;
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(64, bytes);
      if (!p) throw Error("[convolution] out of memory for scratch");
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
};

struct Scratch {
  Buf stage, partial, bpack, pad;
  std::vector<Seg> runs, tmp;
};

// Orders this thread's non-temporal stores before what follows (the end of the region).
void store_fence() {
#if defined(__x86_64__)
  __builtin_ia32_sfence();
#endif
}

Scratch& scratch_of_thread() {
  thread_local Scratch s;
  return s;
}

// What both layouts share.
struct Call {
  const ConvGeom* G = nullptr;
  ConvArgs a;
  const PackedWeights* pw = nullptr;
  bool bf16 = false;
  int64_t es = 4;  // bytes per input / output element
  Ukernel uk = nullptr;
  const float* bias = nullptr;  // K values in f32, or null
  int64_t S = 0, nkb = 1, kcs = 0;
  bool direct = false;  // f32 output: chains continue in the output itself
  bool stream = false;  // output much larger than the caches: non-temporal stores
};

// Blocking: rows of `mtiles` 14-row tiles and `npanels` 32-column panels per item
// (image x group), `items` items. Row blocks of mc tiles, column blocks of nc panels,
// tasks of mg tiles.
struct Blocking {
  int64_t mc = 0, nc = 0, mg = 0, mtasks = 0, ntasks = 0;
};

Blocking blocking(int64_t items, int64_t mtiles, int64_t npanels, bool partial, int threads) {
  Blocking b;
  b.mc = std::min(kMCTiles, mtiles);
  b.nc = std::min(kNCPanels, npanels);
  auto blocks = [&] { return items * div_up(mtiles, b.mc) * div_up(npanels, b.nc); };
  while (blocks() < 2 * threads && (b.mc > 2 || b.nc > 2)) {
    if (b.nc >= 2 * b.mc && b.nc > 2)
      b.nc = div_up(b.nc, 2);
    else if (b.mc > 2)
      b.mc = div_up(b.mc, 2);
    else
      b.nc = div_up(b.nc, 2);
  }
  b.ntasks = div_up(npanels, b.nc);
  const int64_t mblocks = div_up(mtiles, b.mc);
  int64_t groups = std::clamp<int64_t>(div_up(8 * threads, b.ntasks * items), 1, mblocks);
  if (partial) groups = std::max(groups, div_up(mblocks, kMaxGroupBlocks));
  b.mg = div_up(mblocks, groups) * b.mc;
  b.mtasks = div_up(mtiles, b.mg);
  return b;
}

// The kernel call's epilogue for K block kb of a tile whose output element (i, j) is
// at out + i * rs + j (elements): continue in the output (f32), in the partial buffer
// (bf16, not last), or finish with bias and rounding (last).
void run_tile(const Call& c, UkArgs& u, int64_t kb, char* out, int64_t rs, const float* row_bias,
              const float* col_bias, float* part, int64_t ldp) {
  const bool first = kb == 0, last = kb == c.nkb - 1;
  u.load_c = !first;
  TileStore ts;
  if (c.direct) {
    u.c = reinterpret_cast<float*>(out);
    u.ldc = rs;
  } else {
    u.c = part;
    u.ldc = ldp;
  }
  if (last) {
    ts.out = out;
    ts.rs = rs;
    ts.bf16 = c.bf16;
    ts.row_bias = row_bias;
    ts.col_bias = col_bias;
    ts.stream = c.stream;
    u.store = &ts;
  }
  c.uk(u);
}

// ---- channels-last -----------------------------------------------------------------

struct Nhwc {
  Call c;
  // bf16 with an odd channel count: the input rows a tile reads are staged with the
  // pad channel and the padding columns, and every tile reads that copy in place.
  bool padded = false;
  int64_t tpr = 0, wp = 0;  // padded: tiles per output row, staged pixels per row
  bool flat = false;        // 1x1, stride 1, no padding, dense rows: tiles run across rows
  int64_t ipr = 0;          // in-place tiles per output row (not flat), from column lead
  int64_t lead = 0;
  int64_t left = 0;  // pixels per row (flat: per image) in no in-place tile
  int64_t n_in = 0;  // in-place tiles; the staged ones follow
  int64_t mtiles = 0, npanels = 0;
  int64_t staged_block = 0;  // staged tiles per block (staging buffer bound)
};

// Tile q of an image-group. In place: 14 pixels of one output row from column ow0
// (flat: pixels ow0.. of the image, oh = 0). Staged: pixels [idx0, idx0 + mr) of the
// list of the pixels no in-place tile covers, in row order.
struct TileAt {
  bool staged = false;
  int64_t oh = 0, ow0 = 0, idx0 = 0, mr = kMR;
};
TileAt tile_at(const Nhwc& s, int64_t q) {
  TileAt t;
  if (s.padded) {
    t.oh = q / s.tpr;
    t.ow0 = q % s.tpr * kMR;
    t.mr = std::min<int64_t>(kMR, s.c.G->OW - t.ow0);
    return t;
  }
  if (q < s.n_in) {
    if (s.flat) {
      t.ow0 = q * kMR;
    } else {
      t.oh = q / s.ipr;
      t.ow0 = s.lead + q % s.ipr * kMR;
    }
    return t;
  }
  const ConvGeom& G = *s.c.G;
  t.staged = true;
  t.idx0 = (q - s.n_in) * kMR;
  t.mr = std::min<int64_t>(kMR, (s.flat ? 1 : G.OH) * s.left - t.idx0);
  return t;
}

// Output row and column of entry idx of the staged pixel list.
void staged_pixel(const Nhwc& s, int64_t idx, int64_t& oh, int64_t& ow) {
  const ConvGeom& G = *s.c.G;
  if (s.flat) {
    const int64_t p = s.n_in * kMR + idx;
    oh = p / G.OW;
    ow = p % G.OW;
    return;
  }
  oh = idx / s.left;
  const int64_t j = idx % s.left;
  ow = j < s.lead ? j : j + s.ipr * kMR;
}

// The runs of K block [s0, s0 + ks) for an in-place tile of output row oh: per tap
// whose input row is inside the plane, A at (input row, column offset) relative to
// the tile's pixel 0 under tap (0, 0), B at the block's step.
void tap_runs(const Nhwc& s, int64_t oh, int64_t s0, int64_t ks, std::vector<Seg>& out) {
  const ConvGeom& G = *s.c.G;
  const int64_t upt = s.c.pw->upt, gh = G.row0 + oh;
  out.clear();
  for (int64_t t = s0 / upt; t * upt < s0 + ks; ++t) {
    const int64_t i = t / G.kw, j = t % G.kw;
    const int64_t ih = gh * G.sh - G.ph + i * G.dh;
    if (!s.flat && (ih < 0 || ih >= G.full_h)) continue;
    const int64_t u0 = std::max(s0, t * upt), u1 = std::min(s0 + ks, (t + 1) * upt);
    Seg g;
    if (s.padded)  // staged row i, pixel j * dw of the staged row
      g.a = (i * s.wp + j * G.dw) * upt * 4 + (u0 - t * upt) * 4;
    else
      g.a = ((s.flat ? 0 : (ih - G.in_row0) * s.c.a.xs.h) + j * G.dw * s.c.a.xs.w) * s.c.es +
            (u0 - t * upt) * 4;
    g.b = (u0 - s0) * kNR;
    g.steps = u1 - u0;
    // A tap that continues the previous one in A and B extends it (the taps of one
    // kernel row, over dense pixels): fewer, longer runs.
    if (!out.empty() && out.back().a + out.back().steps * 4 == g.a &&
        out.back().b + out.back().steps * kNR == g.b) {
      out.back().steps += g.steps;
      continue;
    }
    out.push_back(g);
  }
}

// Stages a staged tile as the im2col block of K block [s0, s0 + ks): row r at
// dst + r * ld units, zeros for padding, pad channels and rows past mr.
void stage_tile(const Nhwc& s, const char* xg, const TileAt& t, int64_t s0, int64_t ks, int64_t ld,
                uint32_t* dst) {
  const ConvGeom& G = *s.c.G;
  const ConvArgs& a = s.c.a;
  const int64_t upt = s.c.pw->upt, cpg = G.cin_per_group(), es = s.c.es;
  std::memset(dst, 0, static_cast<size_t>(kMR * ld) * 4);
  for (int64_t r = 0; r < t.mr; ++r) {
    int64_t oh, ow;
    staged_pixel(s, t.idx0 + r, oh, ow);
    const int64_t gh = G.row0 + oh;
    uint32_t* row = dst + r * ld;
    for (int64_t tp = s0 / upt; tp * upt < s0 + ks; ++tp) {
      const int64_t i = tp / G.kw, j = tp % G.kw;
      const int64_t ih = gh * G.sh - G.ph + i * G.dh, iw = ow * G.sw - G.pw + j * G.dw;
      if (ih < 0 || ih >= G.full_h || iw < 0 || iw >= G.W) continue;
      const int64_t u0 = std::max(s0, tp * upt) - tp * upt;
      const int64_t u1 = std::min(s0 + ks, (tp + 1) * upt) - tp * upt;
      const char* src = xg + ((ih - G.in_row0) * a.xs.h + iw * a.xs.w) * es;
      char* d = reinterpret_cast<char*>(row + (tp * upt + u0 - s0));
      if (s.c.bf16) {  // channels [2 u0, min(2 u1, cpg))
        const int64_t c1 = std::min(2 * u1, cpg);
        std::memcpy(d, src + 2 * u0 * 2, static_cast<size_t>(c1 - 2 * u0) * 2);
      } else {
        std::memcpy(d, src + u0 * 4, static_cast<size_t>(u1 - u0) * 4);
      }
    }
  }
}

// Padded mode: the kh input rows of output row oh as [i][wp pixels][2 upt channels]
// bf16, padding columns and the pad channel zero (rows outside the plane are not
// read: their taps are not in the runs).
void stage_rows(const Nhwc& s, const char* xg, int64_t oh, uint16_t* dst) {
  const ConvGeom& G = *s.c.G;
  const ConvArgs& a = s.c.a;
  const int64_t cp = 2 * s.c.pw->upt, cpg = G.cin_per_group();
  for (int64_t i = 0; i < G.kh; ++i) {
    const int64_t ih = (G.row0 + oh) * G.sh - G.ph + i * G.dh;
    uint16_t* row = dst + i * s.wp * cp;
    if (ih < 0 || ih >= G.full_h) continue;
    std::memset(row, 0, static_cast<size_t>(G.pw * cp) * 2);  // padding columns
    std::memset(row + (G.pw + G.W) * cp, 0, static_cast<size_t>((s.wp - G.pw - G.W) * cp) * 2);
    const uint16_t* src = reinterpret_cast<const uint16_t*>(xg) + (ih - G.in_row0) * a.xs.h;
    uint16_t* d = row + G.pw * cp;
    if (cpg == 3) {  // the stem: 4 channels per staged pixel, one 64-bit store
      for (int64_t iw = 0; iw < G.W; ++iw) {
        const uint16_t* x = src + iw * a.xs.w;
        const uint64_t v =
            x[0] | static_cast<uint64_t>(x[1]) << 16 | static_cast<uint64_t>(x[2]) << 32;
        std::memcpy(d + iw * 4, &v, 8);
      }
      continue;
    }
    for (int64_t iw = 0; iw < G.W; ++iw) {
      const uint16_t* x = src + iw * a.xs.w;
      for (int64_t ch = 0; ch < cpg; ++ch) d[iw * cp + ch] = x[ch];
      for (int64_t ch = cpg; ch < cp; ++ch) d[iw * cp + ch] = 0;
    }
  }
}

// The kernel call of a staged tile: its rows are pixels anywhere in the output, so the
// chain ends in an f32 tile and the epilogue (bias added in f32, one rounding, as the
// kernels' stores) writes each row where it belongs.
void stage_out(const Nhwc& s, UkArgs& u, int64_t kb, char* out, const TileAt& t, const float* bias,
               float* part, int64_t ldp) {
  const Call& c = s.c;
  const ConvArgs& a = c.a;
  alignas(64) float tile[kMR * kNR];
  u.load_c = kb > 0;
  u.store = nullptr;
  u.c = part ? part : tile;
  u.ldc = part ? ldp : kNR;
  c.uk(u);
  if (kb != c.nkb - 1) return;
  for (int64_t r = 0; r < t.mr; ++r) {
    int64_t oh, ow;
    staged_pixel(s, t.idx0 + r, oh, ow);
    const float* v = u.c + r * u.ldc;
    const int64_t o = oh * a.os.h + ow * a.os.w;
    for (int64_t j = 0; j < u.nr; ++j) {
      const float x = bias ? v[j] + bias[j] : v[j];
      if (c.bf16)
        reinterpret_cast<uint16_t*>(out)[o + j] = f32_to_bf16(x);
      else
        reinterpret_cast<float*>(out)[o + j] = x;
    }
  }
}

void nhwc_task(const Nhwc& s, int64_t n, int64_t g, int64_t q0, int64_t q1, int64_t jp0,
               int64_t jp1) {
  const Call& c = s.c;
  const ConvGeom& G = *c.G;
  const ConvArgs& a = c.a;
  Scratch& sc = scratch_of_thread();
  const int64_t kpg = G.cout_per_group();
  const int64_t ldp = (jp1 - jp0) * kNR;
  // Chains between K blocks: in the output (f32, in-place tiles) or here.
  float* partial = c.nkb == 1 ? nullptr : sc.partial.get<float>((q1 - q0) * kMR * ldp);
  const char* xg =
      static_cast<const char*>(a.x) + (n * a.xs.n + g * G.cin_per_group() * a.xs.c) * c.es;
  char* og = static_cast<char*>(a.out) + (n * a.os.n + g * kpg) * c.es;
  const gemm::PackedB& B = c.pw->b[static_cast<size_t>(g)];
  const int64_t ld = (c.kcs + 15) / 16 * 16;  // staged row length in units
  uint32_t* stage = sc.stage.get<uint32_t>(s.staged_block * kMR * ld);
  struct Prep {
    const char* a = nullptr;
    int64_t a_row = 0;
    int64_t run0 = 0;  // first run in sc.runs; -1: staged (one run of the whole block)
    int nruns = 0;
  };
  Prep prep[kMCTiles];
  uint16_t* pad = s.padded ? sc.pad.get<uint16_t>(G.kh * s.wp * 2 * c.pw->upt) : nullptr;
  for (int64_t kb = 0; kb < c.nkb; ++kb) {
    int64_t staged_oh = -1;
    const int64_t s0 = kb * c.kcs, ks = std::min(c.S, s0 + c.kcs) - s0;
    const Seg whole{0, 0, ks};
    for (int64_t b0 = q0, b1; b0 < q1; b0 = b1) {
      // Blocks of in-place tiles, or of staged ones (fewer: their staging stays in L2).
      b1 = b0 < s.n_in ? std::min({q1, b0 + kMCTiles, s.n_in}) : std::min(q1, b0 + s.staged_block);
      if (s.padded) {  // one output row per block: its staged input rows
        b1 = std::min(b1, (b0 / s.tpr + 1) * s.tpr);
        if (b0 / s.tpr != staged_oh) {
          staged_oh = b0 / s.tpr;
          stage_rows(s, xg, staged_oh, pad);
        }
      }
      // The runs of each distinct output row of the block (its tiles are adjacent).
      sc.runs.clear();
      int64_t last_oh = -1, run0 = 0, nruns = 0;
      for (int64_t q = b0; q < b1; ++q) {
        const TileAt t = tile_at(s, q);
        Prep& p = prep[q - b0];
        if (t.staged) {
          uint32_t* blk = stage + (q - b0) * kMR * ld;
          stage_tile(s, xg, t, s0, ks, ld, blk);
          p = {reinterpret_cast<const char*>(blk), ld * 4, -1, 1};
          continue;
        }
        if (t.oh != last_oh) {
          tap_runs(s, t.oh, s0, ks, sc.tmp);
          run0 = static_cast<int64_t>(sc.runs.size());
          nruns = static_cast<int64_t>(sc.tmp.size());
          sc.runs.insert(sc.runs.end(), sc.tmp.begin(), sc.tmp.end());
          last_oh = t.oh;
        }
        if (s.padded) {
          const int64_t unit = c.pw->upt * 4;  // bytes per staged pixel
          p = {reinterpret_cast<const char*>(pad) + t.ow0 * G.sw * unit, G.sw * unit, run0,
               static_cast<int>(nruns)};
          continue;
        }
        const int64_t col = s.flat ? (G.row0 - G.in_row0) * a.xs.h + t.ow0 * a.xs.w
                                   : (t.ow0 * G.sw - G.pw) * a.xs.w;
        p = {xg + col * c.es, G.sw * a.xs.w * c.es, run0, static_cast<int>(nruns)};
      }
      for (int64_t jp = jp0; jp < jp1; ++jp) {
        const uint32_t* bp = B.panel(jp) + s0 * kNR;
        const int64_t jj = jp * kNR;
        for (int64_t q = b0; q < b1; ++q) {
          const TileAt t = tile_at(s, q);
          const Prep& p = prep[q - b0];
          UkArgs u;
          u.a = reinterpret_cast<const uint32_t*>(p.a);
          u.a_row = p.a_row;
          u.a_step = 4;
          u.b = bp;
          u.segs = p.run0 < 0 ? &whole : sc.runs.data() + p.run0;
          u.nsegs = p.nruns;
          u.mr = static_cast<int>(t.mr);
          u.nr = static_cast<int>(std::min<int64_t>(kNR, kpg - jj));
          float* part = partial ? partial + (q - q0) * kMR * ldp + (jj - jp0 * kNR) : nullptr;
          const float* bias = c.bias ? c.bias + g * kpg + jj : nullptr;
          if (!t.staged) {
            if (c.direct) part = nullptr;
            // Flat tiles: pixel t.ow0 of the image (rows are dense: os.h = OW os.w).
            char* out = og + (t.oh * a.os.h + t.ow0 * a.os.w + jj) * c.es;
            run_tile(c, u, kb, out, a.os.w, nullptr, bias, part, ldp);
            continue;
          }
          // Staged rows are pixels anywhere: finish into the thread's tile buffer.
          stage_out(s, u, kb, og + jj * c.es, t, bias, part, ldp);
        }
      }
    }
  }
  if (c.stream) store_fence();
}

void run_nhwc(Call& c) {
  const ConvGeom& G = *c.G;
  Nhwc s;
  s.c = c;
  const ConvArgs& a = c.a;
  const bool exact = !c.bf16 || G.cin_per_group() % 2 == 0;  // whole units per pixel
  s.flat = G.kh == 1 && G.kw == 1 && G.sh == 1 && G.sw == 1 && G.ph == 0 && G.pw == 0 &&
           a.xs.h == G.W * a.xs.w && a.os.h == G.OW * a.os.w;
  if (!exact) {
    s.padded = true;
    s.tpr = div_up(G.OW, kMR);
    s.wp = std::max(G.W + 2 * G.pw, s.tpr * kMR * G.sw + (G.kw - 1) * G.dw + 1);
    s.n_in = s.mtiles = G.OH * s.tpr;
  } else if (s.flat) {
    s.n_in = exact ? G.OH * G.OW / kMR : 0;
    s.left = G.OH * G.OW - s.n_in * kMR;
    s.mtiles = s.n_in + div_up(s.left, kMR);
  } else {
    const Cols in = interior_cols(G);
    s.lead = in.lo;
    s.ipr = exact ? (in.hi - in.lo) / kMR : 0;
    s.left = G.OW - s.ipr * kMR;
    s.n_in = G.OH * s.ipr;
    s.mtiles = s.n_in + div_up(G.OH * s.left, kMR);
  }
  const int64_t tile_bytes = kMR * (c.kcs + 15) / 16 * 16 * 4;
  s.staged_block = std::clamp<int64_t>((512 << 10) / tile_bytes, 1, kMCTiles);
  s.npanels = div_up(G.cout_per_group(), kNR);
  const int threads = std::max(1, omp_get_max_threads());
  const int64_t items = G.N * G.groups;
  const Blocking bl = blocking(items, s.mtiles, s.npanels, !c.direct && c.nkb > 1, threads);
  const int64_t tasks = items * bl.mtasks * bl.ntasks;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t jt = t % bl.ntasks, it = t / bl.ntasks % bl.mtasks,
                  item = t / bl.ntasks / bl.mtasks;
    const int64_t q0 = it * bl.mg, q1 = std::min(s.mtiles, q0 + bl.mg);
    const int64_t jp0 = jt * bl.nc, jp1 = std::min(s.npanels, jp0 + bl.nc);
    nhwc_task(s, item / G.groups, item % G.groups, q0, q1, jp0, jp1);
  }
}

// ---- NCHW -------------------------------------------------------------------------

struct Nchw {
  Call c;
  NchwPanels pk;
  int64_t mtiles = 0, npanels = 0;
};

void nchw_task(const Nchw& s, int64_t n, int64_t g, int64_t i0, int64_t i1, int64_t q0,
               int64_t q1) {
  const Call& c = s.c;
  const ConvGeom& G = *c.G;
  const ConvArgs& a = c.a;
  Scratch& sc = scratch_of_thread();
  const int64_t kpg = G.cout_per_group();
  const int64_t ldp = (q1 - q0) * kNR;
  float* partial = c.direct || c.nkb == 1 ? nullptr : sc.partial.get<float>((i1 - i0) * kMR * ldp);
  uint32_t* bb = sc.bpack.get<uint32_t>((q1 - q0) * c.kcs * kNR);
  NchwPanels pk = s.pk;
  pk.x = static_cast<const char*>(a.x) + (n * a.xs.n + g * G.cin_per_group() * a.xs.c) * c.es;
  char* og = static_cast<char*>(a.out) + (n * a.os.n + g * kpg * a.os.c) * c.es;
  for (int64_t kb = 0; kb < c.nkb; ++kb) {
    const int64_t s0 = kb * c.kcs, ks = std::min(c.S, s0 + c.kcs) - s0;
    pack_nchw_panels(pk, q0, q1, s0, ks, bb);
    for (int64_t ip = i0; ip < i1; ++ip) {
      const uint32_t* ap = c.pw->a_panel(g, ip) + s0 * kMR;
      const int64_t ii = ip * kMR;
      for (int64_t q = q0; q < q1; ++q) {
        // Panel q: pixels [32 q, 32 q + 32) of the plane (dense: os.h == OW).
        const int64_t off = q * kNR, nr = std::min<int64_t>(kNR, G.OH * G.OW - off);
        UkArgs u;
        u.a = ap;
        u.b = bb + (q - q0) * ks * kNR;
        u.steps = ks;
        u.mr = static_cast<int>(std::min<int64_t>(kMR, kpg - ii));
        u.nr = static_cast<int>(nr);
        float* part = partial ? partial + (ip - i0) * kMR * ldp + (q - q0) * kNR : nullptr;
        run_tile(c, u, kb, og + (ii * a.os.c + off) * c.es, a.os.c,
                 c.bias ? c.bias + g * kpg + ii : nullptr, nullptr, part, ldp);
      }
    }
  }
  if (c.stream) store_fence();
}

void run_nchw(Call& c) {
  const ConvGeom& G = *c.G;
  const ConvArgs& a = c.a;
  Nchw s;
  s.c = c;
  NchwPanels& p = s.pk;
  p.bf16 = c.bf16;
  p.xs_c = a.xs.c;
  p.xs_h = a.xs.h;
  p.W = G.W;
  p.full_h = G.full_h;
  p.in_row0 = G.in_row0;
  p.row0 = G.row0;
  p.OH = G.OH;
  p.OW = G.OW;
  p.sh = G.sh;
  p.sw = G.sw;
  p.ph = G.ph;
  p.pw = G.pw;
  p.dh = G.dh;
  p.dw = G.dw;
  p.kw = G.kw;
  p.upt = c.pw->upt;
  p.cpg = G.cin_per_group();
  if (a.os.w != 1 || a.os.h != G.OW) throw Error("[convolution] NCHW output planes must be dense");
  s.npanels = div_up(G.OH * G.OW, kNR);
  s.mtiles = c.pw->a_panels;
  const int threads = std::max(1, omp_get_max_threads());
  const int64_t items = G.N * G.groups;
  // Every task packs its own input panels: prefer tasks over all output channels.
  Blocking bl;
  bl.nc = std::min(kNCPanels, s.npanels);
  while (items * div_up(s.npanels, bl.nc) < 8 * threads && bl.nc > 1) bl.nc = div_up(bl.nc, 2);
  bl.ntasks = div_up(s.npanels, bl.nc);
  bl.mg = s.mtiles;
  if (!c.direct && c.nkb > 1) bl.mg = std::min(bl.mg, kMCTiles * kMaxGroupBlocks);
  bl.mtasks = div_up(s.mtiles, bl.mg);
  const int64_t tasks = items * bl.mtasks * bl.ntasks;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t jt = t % bl.ntasks, it = t / bl.ntasks % bl.mtasks,
                  item = t / bl.ntasks / bl.mtasks;
    const int64_t i0 = it * bl.mg, i1 = std::min(s.mtiles, i0 + bl.mg);
    const int64_t q0 = jt * bl.nc, q1 = std::min(s.npanels, q0 + bl.nc);
    nchw_task(s, item / G.groups, item % G.groups, i0, i1, q0, q1);
  }
}

// ---- taps in the padding, skipped (weights with inf or NaN) ----------------------------

uint32_t unit_of(const void* p, int64_t i, int64_t stride, bool has_second, bool bf16) {
  if (!bf16) {
    uint32_t u;
    std::memcpy(&u, static_cast<const float*>(p) + i, 4);
    return u;
  }
  const uint16_t* h = static_cast<const uint16_t*>(p);
  uint32_t u = h[i];
  if (has_second) u |= static_cast<uint32_t>(h[i + stride]) << 16;
  return u;
}

// Recomputes every element whose window reaches into the padding, the padding taps
// left out of the chain: the same steps the kernels take, one element at a time.
void exact_padding(const Call& c) {
  const ConvGeom& G = *c.G;
  const ConvArgs& a = c.a;
  const int64_t kpg = G.cout_per_group(), cpg = G.cin_per_group(), T = G.kh * G.kw;
  const int64_t upt = c.pw->upt;
  auto row_pad = [&](int64_t oh) {
    const int64_t top = (G.row0 + oh) * G.sh - G.ph;
    return top < 0 || top + (G.kh - 1) * G.dh >= G.full_h;
  };
  auto col_pad = [&](int64_t ow) {
    const int64_t left = ow * G.sw - G.pw;
    return left < 0 || left + (G.kw - 1) * G.dw >= G.W;
  };
  const bool bf16 = c.bf16;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < G.N * G.OH; ++item) {
    const int64_t n = item / G.OH, oh = item % G.OH;
    const bool rp = row_pad(oh);
    for (int64_t ow = 0; ow < G.OW; ++ow) {
      if (!rp && !col_pad(ow)) continue;
      for (int64_t k = 0; k < G.K; ++k) {
        const int64_t g = k / kpg;
        float acc = 0.0f;
        for (int64_t t = 0; t < T; ++t) {
          const int64_t i = t / G.kw, j = t % G.kw;
          const int64_t ih = (G.row0 + oh) * G.sh - G.ph + i * G.dh;
          const int64_t iw = ow * G.sw - G.pw + j * G.dw;
          if (ih < 0 || ih >= G.full_h || iw < 0 || iw >= G.W) continue;
          const int64_t xbase =
              n * a.xs.n + (g * cpg) * a.xs.c + (ih - G.in_row0) * a.xs.h + iw * a.xs.w;
          for (int64_t u = 0; u < upt; ++u) {
            const int64_t ch = bf16 ? 2 * u : u;
            const bool second = bf16 && ch + 1 < cpg;
            const uint32_t xu = unit_of(a.x, xbase + ch * a.xs.c, a.xs.c, second, bf16);
            const uint32_t wu = unit_of(a.w, (k * cpg + ch) * T + t, T, second, bf16);
            acc = gemm::detail::chain_step(bf16, acc, xu, wu);
          }
        }
        if (c.bias) acc += c.bias[k];
        const int64_t o = n * a.os.n + k * a.os.c + oh * a.os.h + ow * a.os.w;
        if (bf16)
          static_cast<uint16_t*>(a.out)[o] = f32_to_bf16(acc);
        else
          static_cast<float*>(a.out)[o] = acc;
      }
    }
  }
}

}  // namespace

void conv_gemm(const ConvGeom& G, const ConvArgs& a) {
  if (G.N == 0 || G.OH == 0 || G.OW == 0 || G.K == 0) return;
  Call c;
  c.G = &G;
  c.a = a;
  c.bf16 = a.dtype == DType::BF16;
  c.es = c.bf16 ? 2 : 4;
  const auto& isa = gemm::detail::isa();
  c.uk = c.bf16 ? isa.bf16 : isa.f32;
  const std::shared_ptr<const PackedWeights> pw =
      packed_weights(G, a.dtype, a.w, G.channels_last ? Packing::kPanelsB : Packing::kPanelsA);
  c.pw = pw.get();
  std::vector<float> bias;
  if (a.bias) {
    bias.resize(static_cast<size_t>(G.K));
    for (int64_t k = 0; k < G.K; ++k)
      bias[static_cast<size_t>(k)] = c.bf16 ? bf16_to_f32(static_cast<const uint16_t*>(a.bias)[k])
                                            : static_cast<const float*>(a.bias)[k];
    c.bias = bias.data();
  }
  c.S = pw->steps;
  c.nkb = std::max<int64_t>(1, div_up(c.S, kc_steps()));
  c.kcs = std::max<int64_t>(1, div_up(c.S, c.nkb));
  c.direct = !c.bf16;
  const double out_bytes = static_cast<double>(G.N * G.K * G.OH * G.OW) * static_cast<double>(c.es);
  const int64_t stream_mb = env_int("OOMLESS_CONV_STREAM_MB", 64);
  c.stream = stream_mb >= 0 && out_bytes > static_cast<double>(stream_mb) * (1 << 20);
  if (G.channels_last)
    run_nhwc(c);
  else
    run_nchw(c);
  if (!pw->finite && (G.ph > 0 || G.pw > 0)) exact_padding(c);
}

}  // namespace oomless::ops::conv
