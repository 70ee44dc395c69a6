// The blocked GEMM driver: orientation, blocking, tasks, packing and epilogues around
// the micro-kernels of ukernel.hpp (design and determinism contract in gemm.hpp).
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::gemm {

using namespace detail;

namespace {

// K blocks: fewer blocks means fewer partial sums stored and reloaded (measured:
// 512 steps beat 256 on the mm and linear shapes); the B micro-panel (64 KB) and the
// A block (344 KB) then stay in L2.
constexpr int64_t kKCSteps = 512;
constexpr int64_t kMC = kMR * 12;  // A block: 168 rows
constexpr int64_t kNC = kNR * 16;  // B block: 512 columns
// Outputs above this many bytes are stored with non-temporal stores (written once,
// far larger than the caches: no read-for-ownership of the lines).
constexpr double kStreamBytes = 32.0 * (1 << 20);
// K blocks of at most this many steps into at least this many column panels run a
// row of tiles at a time (see run_task).
constexpr int64_t kShortK = 64, kWidePanels = 8;

constexpr int64_t kMaxGroupBlocks = 8;  // row blocks per task when partial sums are kept

int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

int64_t div_up(int64_t v, int64_t m) {
  return (v + m - 1) / m;
}

// A 64-byte aligned scratch buffer that only grows.
struct Buf {
  void* p = nullptr;
  size_t cap = 0;
  ~Buf() { std::free(p); }
  template <class T>
  T* get(size_t count) {
    size_t bytes = round_up(static_cast<int64_t>(std::max<size_t>(count * sizeof(T), 64)), 64);
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(64, bytes);
      if (!p) throw Error("[gemm] out of memory for packing scratch");
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
};

struct Scratch {
  Buf a, b, c, stage;
  alignas(64) float tile[kMR * kNR];
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

size_t esize(DType t) {
  return t == DType::BF16 ? 2 : 4;
}

const char* elem(const MatView& v, int64_t r, int64_t c) {
  return static_cast<const char*>(v.data) +
         (r * v.row_stride + c * v.col_stride) * static_cast<int64_t>(esize(v.dtype));
}

MatView transposed(const MatView& v) {
  return {v.data, v.dtype, v.cols, v.rows, v.col_stride, v.row_stride};
}

// One problem in the orientation it is computed in, with its blocking.
struct Plan {
  Problem p;
  bool bf16 = false;
  bool direct = false;  // partial sums live in the f32 output itself
  bool stream = false;  // non-temporal stores of the finished tiles
  int64_t steps = 0, kcs = 0, nkb = 0;
  int64_t mc = 0, nc = 0, mg = 0;  // rows per A block, columns per task, rows per task
  int64_t mt = 0, nt = 0;          // tasks down and across
};

int64_t padded_work(int64_t m, int64_t n) {
  return round_up(m, kMR) * round_up(n, kNR);
}

void check(const Problem& p) {
  auto bad = [](const char* what) { throw InvalidArgument(std::string("[gemm] ") + what); };
  if (p.m < 0 || p.n < 0 || p.k < 0) bad("negative size");
  if (p.dtype != DType::F32 && p.dtype != DType::BF16) bad("dtype must be float32 or bfloat16");
  if (p.out.dtype != DType::F32 && p.out.dtype != DType::BF16)
    bad("output dtype must be float32 or bfloat16");
  if (!p.a_rows && (p.a.dtype != p.dtype || p.a.rows != p.m || p.a.cols != p.k))
    bad("A does not match the problem");
  if (p.b_packed) {
    if (p.b_packed->dtype() != p.dtype || p.b_packed->k() != p.k || p.b_packed->n() != p.n)
      bad("packed B does not match the problem");
  } else if (p.b.dtype != p.dtype || p.b.rows != p.k || p.b.cols != p.n) {
    bad("B does not match the problem");
  }
  if (p.out.accumulate && (p.out.dtype != DType::F32 || p.out.cs != 1 || p.out.custom ||
                           p.out.row_bias || p.out.col_bias))
    bad("accumulate needs an f32 output with unit column stride and no bias or hook");
}

Plan plan(const Problem& in, int threads) {
  check(in);
  Plan pl;
  pl.p = in;
  Problem& p = pl.p;
  // Compute C^T = B^T A^T when that wastes much less of the 14 x 32 tiles.
  bool can_swap = !p.a_rows && !p.b_packed && !p.out.custom && !p.out.accumulate;
  if (can_swap && padded_work(p.n, p.m) * 10 < padded_work(p.m, p.n) * 9) {
    MatView a = transposed(p.b), b = transposed(p.a);
    p.a = a;
    p.b = b;
    std::swap(p.m, p.n);
    std::swap(p.out.rs, p.out.cs);
    std::swap(p.out.row_bias, p.out.col_bias);
  }
  pl.bf16 = p.dtype == DType::BF16;
  pl.direct = p.out.dtype == DType::F32 && p.out.cs == 1 && !p.out.custom && !p.out.row_bias &&
              !p.out.col_bias;
  pl.steps = steps_of(p.k, pl.bf16);
  // K blocks of equal size (the chain does not depend on where they are cut).
  pl.nkb = std::max<int64_t>(1, div_up(pl.steps, kKCSteps));
  pl.kcs = div_up(pl.steps, pl.nkb);
  pl.mc = std::min(kMC, round_up(p.m, kMR));
  pl.nc = std::min(kNC, round_up(p.n, kNR));
  // Small outputs: smaller blocks so every thread gets some.
  auto blocks = [&] { return div_up(p.m, pl.mc) * div_up(p.n, pl.nc); };
  while (blocks() < 2 * threads && (pl.mc > 2 * kMR || pl.nc > 2 * kNR)) {
    if (pl.nc >= pl.mc * 2 && pl.nc > 2 * kNR)
      pl.nc = round_up(pl.nc / 2, kNR);
    else if (pl.mc > 2 * kMR)
      pl.mc = round_up(pl.mc / 2, kMR);
    else
      pl.nc = round_up(pl.nc / 2, kNR);
  }
  // A task is a group of row blocks of one column block: its B block is packed once
  // per K block and reused by all of them. Enough tasks for the dynamic schedule to
  // balance (8 per thread): when B is the larger operand, by narrower column blocks
  // (each extra row group would pack B again, from memory: measured on the mm shape
  // under load, one shared packed B or two row groups both lost to torch), else by row
  // groups. Partial sums, when needed, bound the group.
  if (static_cast<double>(p.n) > static_cast<double>(p.m))
    while (div_up(p.n, pl.nc) < 8 * threads && pl.nc > 2 * kNR) pl.nc = round_up(pl.nc / 2, kNR);
  pl.nt = div_up(p.n, pl.nc);
  int64_t mblocks = div_up(p.m, pl.mc);
  int64_t groups = std::clamp<int64_t>(div_up(8 * threads, pl.nt), 1, mblocks);
  if (p.n > p.m && pl.nt >= 2 * threads) groups = 1;
  if (!pl.direct && pl.nkb > 1) groups = std::max(groups, div_up(mblocks, kMaxGroupBlocks));
  pl.mg = div_up(mblocks, groups) * pl.mc;
  pl.mt = div_up(p.m, pl.mg);
  const double stream_bytes = [] {
    const char* v = std::getenv("OOMLESS_GEMM_STREAM_MB");
    return v ? std::atof(v) * (1 << 20) : kStreamBytes;
  }();
  pl.stream = !p.out.custom && p.out.cs == 1 && stream_bytes >= 0 &&
              static_cast<double>(p.m) * static_cast<double>(p.n) *
                      static_cast<double>(esize(p.out.dtype)) >
                  stream_bytes;
  return pl;
}

// The general store of an f32 block: custom hook, or bias + dtype + any strides.
void store_block(const Epilogue& e, const float* t, int64_t ld, int64_t i0, int64_t j0,
                 int64_t rows, int64_t cols) {
  if (e.custom) {
    e.custom(t, ld, i0, j0, rows, cols);
    return;
  }
  auto value = [&](int64_t r, int64_t c) {
    float v = t[r * ld + c];
    if (e.row_bias) v += e.row_bias[i0 + r];
    if (e.col_bias) v += e.col_bias[j0 + c];
    return v;
  };
  auto put = [&](int64_t r, int64_t c) {
    int64_t off = (i0 + r) * e.rs + (j0 + c) * e.cs;
    if (e.dtype == DType::BF16)
      static_cast<uint16_t*>(e.out)[off] = f32_to_bf16(value(r, c));
    else
      static_cast<float*>(e.out)[off] = value(r, c);
  };
  if (e.rs == 1 && e.cs != 1) {  // column-contiguous output: write down the columns
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t r = 0; r < rows; ++r) put(r, c);
  } else {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) put(r, c);
  }
}

// Where the micro-kernel reads the A units of one row block: panel ip at
// base + ip * panel bytes with the UkArgs strides, except a partial last panel of a
// matrix read in place, which is packed (zero rows) into `tail`.
struct APanels {
  const char* base = nullptr;
  int64_t panel = 0, row = 4, step = kMR * 4;
  const uint32_t* tail = nullptr;
  int64_t tail_ip = -1;
};

// Rows [i0, i0 + rows) x K [k0, k0 + kc) of A. A row-major matrix (unit column
// stride; an even K in bf16, so no pair runs past a row) is read in place: its units
// are already contiguous along k. The callback's rows land in a row-major block read
// the same way. Anything else is packed into 14-row panels.
APanels prepare_a(const Plan& pl, int64_t i0, int64_t rows, int64_t k0, int64_t kc, int64_t ks,
                  uint32_t* abuf, Scratch& s) {
  const Problem& p = pl.p;
  const int64_t es = static_cast<int64_t>(esize(p.dtype));
  PackPanel pack = isa().pack;
  APanels r;
  if (p.a_rows) {
    // Rows padded to whole panels, ld even; padding (and the odd-K pair half) zero.
    const int64_t ld = round_up(std::max<int64_t>(kc, 1), 2);
    const int64_t prow = round_up(rows, kMR);
    char* block = s.stage.get<char>(static_cast<size_t>(prow * ld * es));
    for (int64_t q = 0; q < rows; q += kMR) {
      int64_t lanes = std::min<int64_t>(kMR, rows - q);
      p.a_rows(i0 + q, lanes, k0, kc, block + q * ld * es, ld);
      if (kc % 2)
        for (int64_t t = 0; t < lanes; ++t) std::memset(block + ((q + t) * ld + kc) * es, 0, es);
    }
    if (prow > rows) std::memset(block + rows * ld * es, 0, (prow - rows) * ld * es);
    r.base = block;
    r.panel = kMR * ld * es;
    r.row = ld * es;
    r.step = 4;
    return r;
  }
  const MatView& a = p.a;
  if (a.col_stride == 1 && (!pl.bf16 || p.k % 2 == 0) && rows >= kMR) {
    r.base = elem(a, i0, k0);
    r.panel = kMR * a.row_stride * es;
    r.row = a.row_stride * es;
    r.step = 4;
    if (rows % kMR) {
      r.tail_ip = rows / kMR;
      int64_t q = r.tail_ip * kMR;
      pack(abuf, kMR, elem(a, i0 + q, k0), pl.bf16, rows - q, kc, a.row_stride, 1);
      r.tail = abuf;
    }
    return r;
  }
  pack(abuf, kMR, elem(a, i0, k0), pl.bf16, rows, kc, a.row_stride, a.col_stride);
  r.base = reinterpret_cast<const char*>(abuf);
  r.panel = ks * kMR * 4;
  return r;
}

void run_task(const Plan& pl, int64_t it, int64_t jt) {
  const Problem& p = pl.p;
  const Epilogue& e = p.out;
  Scratch& s = scratch();
  const Isa& k = isa();
  Ukernel uk = pl.bf16 ? k.bf16 : k.f32;
  const int64_t g0 = it * pl.mg, g1 = std::min(p.m, g0 + pl.mg);
  const int64_t j0 = jt * pl.nc, cols = std::min(p.n, j0 + pl.nc) - j0;
  const int64_t jp_n = div_up(cols, kNR);
  const int64_t per_step = pl.bf16 ? 2 : 1;
  const int64_t kcs = std::max<int64_t>(pl.kcs, 1);
  const size_t oes = esize(e.dtype);
  float* partial = nullptr;
  if (!pl.direct && pl.nkb > 1)
    partial = s.c.get<float>(static_cast<size_t>(round_up(g1 - g0, kMR) * pl.nc));
  uint32_t* abuf = s.a.get<uint32_t>(static_cast<size_t>(pl.mc * kcs));
  uint32_t* bbuf = p.b_packed ? nullptr : s.b.get<uint32_t>(static_cast<size_t>(jp_n * kNR * kcs));
  for (int64_t kb = 0; kb < pl.nkb; ++kb) {
    const int64_t s0 = kb * pl.kcs, ks = std::min(pl.steps, s0 + pl.kcs) - s0;
    const int64_t k0 = s0 * per_step, kc = std::min(p.k, k0 + ks * per_step) - k0;
    const bool first = kb == 0, last = kb == pl.nkb - 1;
    if (!p.b_packed)
      k.pack(bbuf, kNR, elem(p.b, k0, j0), pl.bf16, cols, kc, p.b.col_stride, p.b.row_stride);
    for (int64_t i0 = g0; i0 < g1; i0 += pl.mc) {
      const int64_t rows = std::min(g1, i0 + pl.mc) - i0, ip_n = div_up(rows, kMR);
      const APanels ap = prepare_a(pl, i0, rows, k0, kc, ks, abuf, s);
      // One tile: rows ip, columns jp of the block.
      auto tile = [&](int64_t jp, int64_t ip) {
        const int64_t jj = j0 + jp * kNR;
        const uint32_t* bpanel =
            p.b_packed ? p.b_packed->panel(jj / kNR) + s0 * kNR : bbuf + jp * ks * kNR;
        const int64_t ii = i0 + ip * kMR;
        UkArgs u;
        u.steps = ks;
        if (ip == ap.tail_ip) {
          u.a = ap.tail;
        } else {
          u.a = reinterpret_cast<const uint32_t*>(ap.base + ip * ap.panel);
          u.a_row = ap.row;
          u.a_step = ap.step;
        }
        u.b = bpanel;
        u.mr = static_cast<int>(std::min<int64_t>(kMR, p.m - ii));
        u.nr = static_cast<int>(std::min<int64_t>(kNR, p.n - jj));
        if (pl.direct) {
          u.c = static_cast<float*>(e.out) + ii * e.rs + jj;
          u.ldc = e.rs;
          u.load_c = !first || e.accumulate;
          TileStore ts;
          if (last && pl.stream) {  // the same f32 values, stored around the caches
            ts.out = u.c;
            ts.rs = e.rs;
            ts.stream = true;
            u.store = &ts;
          }
          uk(u);
          return;
        }
        float* part = partial ? partial + (ii - g0) * pl.nc + jp * kNR : nullptr;
        u.load_c = !first;
        if (!last) {
          u.c = part;
          u.ldc = pl.nc;
          uk(u);
          return;
        }
        if (e.cs == 1 && !e.custom) {
          TileStore ts;
          ts.out = static_cast<char*>(e.out) + (ii * e.rs + jj) * static_cast<int64_t>(oes);
          ts.rs = e.rs;
          ts.bf16 = e.dtype == DType::BF16;
          ts.row_bias = e.row_bias ? e.row_bias + ii : nullptr;
          ts.col_bias = e.col_bias ? e.col_bias + jj : nullptr;
          ts.stream = pl.stream;
          u.c = part;
          u.ldc = pl.nc;
          u.store = &ts;
          uk(u);
          return;
        }
        // The general epilogue reads the finished tile from the partial buffer (when
        // there is one) or from the thread's tile buffer.
        u.c = part ? part : s.tile;
        u.ldc = part ? pl.nc : kNR;
        uk(u);
        store_block(e, u.c, u.ldc, ii, jj, u.mr, u.nr);
      };
      if (ks <= kShortK && jp_n >= kWidePanels) {
        // Short chains into wide outputs: a row of tiles at a time, its 14 output rows
        // written left to right. Column panels first would touch 168 rows (pages) per
        // panel, a TLB miss per row stored; the B block is small and stays in L2.
        // (Measured, 2048 x 8160 x 32 bf16: 220 vs 170 GFLOP/s on one core; with 3
        // panels, 32640 x 96 x 96, panels first stays better: 350 vs 290.)
        for (int64_t ip = 0; ip < ip_n; ++ip)
          for (int64_t jp = 0; jp < jp_n; ++jp) tile(jp, ip);
      } else {
        // B micro-panel in L1 for all the A panels of the block.
        for (int64_t jp = 0; jp < jp_n; ++jp)
          for (int64_t ip = 0; ip < ip_n; ++ip) tile(jp, ip);
      }
    }
  }
#if defined(__x86_64__)
  if (pl.stream) __builtin_ia32_sfence();  // the task's streamed stores before the region ends
#endif
}

}  // namespace

PackedB::PackedB(const MatView& b) : k_(b.rows), n_(b.cols), dtype_(b.dtype) {
  if (dtype_ != DType::F32 && dtype_ != DType::BF16)
    throw InvalidArgument("[gemm] packed B must be float32 or bfloat16");
  bool bf16 = dtype_ == DType::BF16;
  steps_ = steps_of(k_, bf16);
  int64_t panels = div_up(n_, kNR);
  bytes_ = static_cast<size_t>(std::max<int64_t>(panels * steps_ * kNR, 16)) * 4;
  void* mem = std::aligned_alloc(64, round_up(static_cast<int64_t>(bytes_), 64));
  if (!mem) throw Error("[gemm] out of memory for packed B");
  data_.reset(static_cast<uint32_t*>(mem), [](uint32_t* q) { std::free(q); });
  uint32_t* d = data_.get();
  PackPanel pack = isa().pack;
  // Chunks of K per panel keep each pack call's source within the caches.
  int64_t kchunk = kKCSteps * (bf16 ? 2 : 1);
  int64_t kchunks = std::max<int64_t>(1, div_up(k_, kchunk));
#pragma omp parallel for schedule(static) if (panels * kchunks > 1 && k_ * n_ > (1 << 16))
  for (int64_t t = 0; t < panels * kchunks; ++t) {
    int64_t jp = t / kchunks, kb = t % kchunks;
    int64_t c0 = jp * kNR, lanes = std::min<int64_t>(kNR, n_ - c0);
    int64_t k0 = kb * kchunk, kc = std::min(k_, k0 + kchunk) - k0;
    if (kc <= 0) continue;
    pack(d + jp * steps_ * kNR + steps_of(k0, bf16) * kNR, kNR, elem(b, k0, c0), bf16, lanes, kc,
         b.col_stride, b.row_stride);
  }
}

const uint32_t* PackedB::panel(int64_t jp) const {
  return data_.get() + jp * steps_ * kNR;
}

void run(const Problem* problems, size_t count) {
  int threads = omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads());
  std::vector<Plan> plans;
  std::vector<int64_t> first;  // first task of each plan
  int64_t tasks = 0;
  double flops = 0;
  for (size_t i = 0; i < count; ++i) {
    const Problem& p = problems[i];
    if (p.m == 0 || p.n == 0) {
      check(p);
      continue;
    }
    plans.push_back(plan(p, threads));
    first.push_back(tasks);
    tasks += plans.back().mt * plans.back().nt;
    flops += 2.0 * static_cast<double>(p.m) * static_cast<double>(p.n) *
             static_cast<double>(std::max<int64_t>(p.k, 1));
  }
  if (tasks == 0) return;
  auto one = [&](int64_t t) {
    size_t pi = std::upper_bound(first.begin(), first.end(), t) - first.begin() - 1;
    const Plan& pl = plans[pi];
    int64_t local = t - first[pi];
    run_task(pl, local / pl.nt, local % pl.nt);
  };
  // Below about 0.2 MFLOP a parallel region costs more than it saves.
  if (threads == 1 || tasks == 1 || flops < 2e5) {
    for (int64_t t = 0; t < tasks; ++t) one(t);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) one(t);
}

const char* isa_name() {
  return isa().name;
}

}  // namespace oomless::ops::gemm
