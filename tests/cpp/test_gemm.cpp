// The packed GEMM (ops/gemm/gemm.hpp): values against an f64 reference at edge sizes,
// layouts and strides; the determinism contract (threads, row/column/K splits,
// orientation, ISA path) bit for bit; epilogues; the implicit-GEMM API (A rows from a
// callback, pre-packed B) that conv uses.
//
// Tolerance (u = 2^-24): |c - exact| <= (K + 2) * u * sum_k |a_k b_k|, plus half a
// bf16 ulp of the result for bf16 outputs. Inputs are bf16-representable normals, so
// vdpbf16ps's denormal flushing does not enter except in the test that aims at it.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/error.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/gemm/ukernel.hpp"

namespace oomless {
namespace {

namespace g = ops::gemm;

// A matrix stored with arbitrary strides in a buffer of f32 or bf16 values.
struct Mat {
  int64_t rows = 0, cols = 0, rs = 0, cs = 0;
  DType dt = DType::F32;
  std::vector<float> f;
  std::vector<uint16_t> h;
  std::vector<double> v;  // logical values, row-major

  const void* data() const {
    return dt == DType::BF16 ? static_cast<const void*>(h.data()) : f.data();
  }
  g::MatView view() const { return {data(), dt, rows, cols, rs, cs}; }
  double at(int64_t i, int64_t j) const { return v[i * cols + j]; }
};

// rows x cols with element (i, j) at i * rs + j * cs; layout 0: row-major, 1:
// column-major, 2: padded odd strides.
Mat make(int64_t rows, int64_t cols, DType dt, int layout, uint32_t seed, float scale = 1.0f) {
  Mat m;
  m.rows = rows;
  m.cols = cols;
  m.dt = dt;
  if (layout == 0) {
    m.rs = std::max<int64_t>(cols, 1);
    m.cs = 1;
  } else if (layout == 1) {
    m.rs = 1;
    m.cs = std::max<int64_t>(rows, 1);
  } else {
    m.cs = 3;
    m.rs = 3 * std::max<int64_t>(cols, 1) + 5;
  }
  int64_t span = rows && cols ? (rows - 1) * m.rs + (cols - 1) * m.cs + 1 : 1;
  m.f.assign(static_cast<size_t>(span), std::nanf(""));
  m.h.assign(static_cast<size_t>(span), 0x7fc0);
  m.v.resize(static_cast<size_t>(rows * cols));
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      float x = round_bf16(dist(gen));
      int64_t o = i * m.rs + j * m.cs;
      m.f[o] = x;
      m.h[o] = f32_to_bf16(x);
      m.v[i * cols + j] = x;
    }
  return m;
}

g::Problem problem(const Mat& a, const Mat& b) {
  g::Problem p;
  p.m = a.rows;
  p.n = b.cols;
  p.k = a.cols;
  p.dtype = a.dt;
  p.a = a.view();
  p.b = b.view();
  return p;
}

std::vector<float> run_f32(g::Problem p) {
  std::vector<float> c(static_cast<size_t>(std::max<int64_t>(p.m * p.n, 1)), std::nanf(""));
  p.out.out = c.data();
  p.out.dtype = DType::F32;
  p.out.rs = p.n;
  p.out.cs = 1;
  g::run(p);
  return c;
}

double ulp_bf16(double x) {
  double ax = std::fabs(x);
  if (ax < std::ldexp(1.0, -126)) return std::ldexp(1.0, -133);
  return std::ldexp(1.0, std::ilogb(ax) - 7);
}

// Checks c (row-major m x n, f32 or bf16 values read by get) against the reference.
template <class Get>
void check_ref(const Mat& a, const Mat& b, Get get, bool bf16_out, const std::string& what,
               const std::vector<double>& col_bias = {}) {
  const double u = std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t i = 0; i < a.rows; ++i)
    for (int64_t j = 0; j < b.cols; ++j) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < a.cols; ++k) {
        double p = a.at(i, k) * b.at(k, j);
        ref += p;
        mag += std::fabs(p);
      }
      double tol = (a.cols + 2) * u * mag;
      if (!col_bias.empty()) {
        ref += col_bias[j];
        tol += u * std::fabs(ref);
      }
      if (bf16_out) tol += ulp_bf16(ref);
      double got = get(i, j);
      if (!(std::fabs(got - ref) <= tol) && bad++ < 5)
        ADD_FAILURE() << what << ": c[" << i << "," << j << "] = " << got << ", reference " << ref
                      << ", tolerance " << tol;
    }
}

void expect_same(const std::vector<float>& x, const std::vector<float>& y,
                 const std::string& what) {
  ASSERT_EQ(x.size(), y.size()) << what;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], 4) != 0) {
      ADD_FAILURE() << what << ": element " << i << ": " << x[i] << " vs " << y[i];
      return;
    }
}

const DType kDtypes[] = {DType::F32, DType::BF16};

TEST(Gemm, EdgeSizesAndLayoutsMatchReference) {
  uint32_t seed = 1;
  const int64_t sizes[] = {1, 15, 16, 17, 31, 33};
  for (DType dt : kDtypes)
    for (int64_t m : sizes)
      for (int64_t n : sizes)
        for (int64_t k : {1, 15, 16, 17, 31, 33})
          for (int layout = 0; layout < 3; ++layout) {
            Mat a = make(m, k, dt, layout, seed++), b = make(k, n, dt, (layout + 1) % 3, seed++);
            std::vector<float> c = run_f32(problem(a, b));
            check_ref(
                a, b, [&](int64_t i, int64_t j) { return c[i * n + j]; }, false,
                std::string(dtype_name(dt)) + " m=" + std::to_string(m) +
                    " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                    " layout=" + std::to_string(layout));
          }
}

TEST(Gemm, ManyKBlocksAndTiles) {
  // K spans several K blocks (odd in bf16), M and N several tasks and edge tiles.
  for (DType dt : kDtypes)
    for (int layout = 0; layout < 3; ++layout) {
      Mat a = make(203, 1101, dt, layout, 11), b = make(1101, 555, dt, 2 - layout, 12);
      std::vector<float> c = run_f32(problem(a, b));
      check_ref(
          a, b, [&](int64_t i, int64_t j) { return c[i * 555 + j]; }, false,
          std::string("large ") + std::string(dtype_name(dt)) + " layout " +
              std::to_string(layout));
    }
}

TEST(Gemm, ZeroSizes) {
  for (DType dt : kDtypes) {
    // K = 0: zeros (and the bias); M or N = 0: nothing written.
    Mat a = make(5, 0, dt, 0, 1), b = make(0, 7, dt, 0, 2);
    std::vector<float> c = run_f32(problem(a, b));
    for (float x : c) EXPECT_EQ(x, 0.0f);
    std::vector<float> bias(7, 1.5f), out(35, -1.0f);
    g::Problem p = problem(a, b);
    p.out = {out.data(), DType::F32, 7, 1, nullptr, bias.data()};
    g::run(p);
    for (float x : out) EXPECT_EQ(x, 1.5f);
    for (auto [m, n] : {std::pair<int64_t, int64_t>{0, 4}, {4, 0}, {0, 0}}) {
      Mat a2 = make(m, 3, dt, 0, 3), b2 = make(3, n, dt, 0, 4);
      std::vector<float> guard(4, 7.0f);
      g::Problem q = problem(a2, b2);
      q.out = {guard.data(), DType::F32, std::max<int64_t>(n, 1), 1};
      g::run(q);
      for (float x : guard) EXPECT_EQ(x, 7.0f);
    }
  }
}

// The contract of gemm.hpp: the same bits whatever the thread count, the row and
// column cuts (anywhere), even K cuts continued by accumulate, the orientation and
// the ISA path.
TEST(Gemm, DeterministicAcrossThreadsSplitsAndIsa) {
  int saved = omp_get_max_threads();
  for (DType dt : kDtypes)
    for (int layout = 0; layout < 2; ++layout) {
      const int64_t M = 301, N = 590, K = 777;
      Mat a = make(M, K, dt, layout, 21), b = make(K, N, dt, 1 - layout, 22);
      std::string tag = std::string(dtype_name(dt)) + " layout " + std::to_string(layout);
      omp_set_num_threads(2);
      std::vector<float> whole = run_f32(problem(a, b));
      omp_set_num_threads(1);
      expect_same(whole, run_f32(problem(a, b)), "1 vs 2 threads, " + tag);
      omp_set_num_threads(2);
      // Row cuts at arbitrary places (the 32-row cut is computed as C^T = B^T A^T).
      std::vector<float> rows(whole.size(), std::nanf(""));
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 7}, {7, 39}, {39, 40}, {40, M}}) {
        g::Problem p = problem(a, b);
        p.m = r1 - r0;
        p.a.rows = p.m;
        p.a.data = static_cast<const char*>(a.data()) +
                   r0 * a.rs * static_cast<int64_t>(dt == DType::BF16 ? 2 : 4);
        p.out = {rows.data() + r0 * N, DType::F32, N, 1};
        g::run(p);
      }
      expect_same(whole, rows, "row cuts, " + tag);
      // Column cuts at arbitrary places.
      std::vector<float> cols(whole.size(), std::nanf(""));
      for (auto [c0, c1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 33}, {33, 34}, {34, N}}) {
        g::Problem p = problem(a, b);
        p.n = c1 - c0;
        p.b.cols = p.n;
        p.b.data = static_cast<const char*>(b.data()) +
                   c0 * b.cs * static_cast<int64_t>(dt == DType::BF16 ? 2 : 4);
        p.out = {cols.data() + c0, DType::F32, N, 1};
        g::run(p);
      }
      expect_same(whole, cols, "column cuts, " + tag);
      // K cuts at even offsets, each part continuing the chains in the output.
      std::vector<float> ks(whole.size(), std::nanf(""));
      int64_t kcuts[] = {0, 2, 300, 512, K};
      for (int c = 0; c + 1 < 5; ++c) {
        g::Problem p = problem(a, b);
        p.k = kcuts[c + 1] - kcuts[c];
        p.a.cols = p.b.rows = p.k;
        int64_t es = dt == DType::BF16 ? 2 : 4;
        p.a.data = static_cast<const char*>(a.data()) + kcuts[c] * a.cs * es;
        p.b.data = static_cast<const char*>(b.data()) + kcuts[c] * b.rs * es;
        p.out = {ks.data(), DType::F32, N, 1};
        p.out.accumulate = c > 0;
        g::run(p);
      }
      expect_same(whole, ks, "K cuts, " + tag);
      // The portable kernels give the same bits as the vector ones.
      g::detail::force_generic_isa(true);
      std::vector<float> generic = run_f32(problem(a, b));
      g::detail::force_generic_isa(false);
      expect_same(whole, generic, "generic vs " + std::string(g::isa_name()) + ", " + tag);
    }
  omp_set_num_threads(saved);
}

// vdpbf16ps flushes denormal inputs and partial sums; the portable kernel emulates
// it exactly. Values around 2^-63 make products and sums denormal.
TEST(Gemm, Bf16DenormalsFlushLikeVdpbf16ps) {
  Mat a = make(37, 66, DType::BF16, 0, 31, std::ldexp(1.0f, -63));
  Mat b = make(66, 45, DType::BF16, 0, 32, std::ldexp(1.0f, -63));
  // Some denormal bf16 inputs too.
  for (int i = 0; i < 40; ++i) a.h[static_cast<size_t>(i * 7) % a.h.size()] = 0x0005;
  std::vector<float> fast = run_f32(problem(a, b));
  g::detail::force_generic_isa(true);
  std::vector<float> generic = run_f32(problem(a, b));
  g::detail::force_generic_isa(false);
  expect_same(fast, generic, "bf16 denormals");
  for (float x : fast) EXPECT_NE(std::fpclassify(x), FP_SUBNORMAL);
}

TEST(Gemm, F32KeepsDenormals) {
  Mat a = make(3, 2, DType::F32, 0, 1), b = make(2, 3, DType::F32, 0, 2);
  for (auto& x : a.f) x = std::ldexp(1.0f, -70);
  for (auto& x : b.f) x = std::ldexp(1.0f, -70);
  std::vector<float> c = run_f32(problem(a, b));
  for (float x : c) EXPECT_EQ(x, std::ldexp(1.0f, -139));
}

TEST(Gemm, EpiloguesBiasDtypeAndStrides) {
  for (DType dt : kDtypes) {
    const int64_t M = 45, N = 70, K = 39;
    Mat a = make(M, K, dt, 0, 41), b = make(K, N, dt, 0, 42);
    std::vector<float> f = run_f32(problem(a, b));
    std::vector<float> colb(N), rowb(M);
    for (int64_t j = 0; j < N; ++j) colb[j] = 0.25f * static_cast<float>(j) - 3.0f;
    for (int64_t i = 0; i < M; ++i) rowb[i] = 0.5f * static_cast<float>(i);
    for (DType odt : kDtypes)
      for (int bias = 0; bias < 3; ++bias)
        for (int transposed = 0; transposed < 2; ++transposed) {
          // Row-major (NHWC-like) or column-major (NCHW-like: rs 1, cs M) output.
          std::vector<float> of(M * N, std::nanf(""));
          std::vector<uint16_t> oh(M * N, 0x7fc0);
          g::Problem p = problem(a, b);
          p.out.out = odt == DType::BF16 ? static_cast<void*>(oh.data()) : of.data();
          p.out.dtype = odt;
          p.out.rs = transposed ? 1 : N;
          p.out.cs = transposed ? M : 1;
          if (bias == 1) p.out.col_bias = colb.data();
          if (bias == 2) p.out.row_bias = rowb.data();
          g::run(p);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              float want = f[i * N + j];
              if (bias == 1) want += colb[j];
              if (bias == 2) want += rowb[i];
              int64_t o = transposed ? i + j * M : i * N + j;
              if (odt == DType::BF16)
                ASSERT_EQ(oh[o], f32_to_bf16(want)) << i << "," << j << " bias " << bias;
              else
                ASSERT_EQ(of[o], want) << i << "," << j << " bias " << bias;
            }
        }
  }
}

TEST(Gemm, CustomHookSeesFinishedTiles) {
  const int64_t M = 50, N = 77, K = 600;
  Mat a = make(M, K, DType::BF16, 0, 51), b = make(K, N, DType::BF16, 1, 52);
  std::vector<float> f = run_f32(problem(a, b));
  std::vector<float> got(M * N, std::nanf(""));
  g::Problem p = problem(a, b);
  p.out.custom = [&](const float* t, int64_t ld, int64_t i0, int64_t j0, int64_t rows,
                     int64_t cols) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) got[(i0 + r) * N + j0 + c] = t[r * ld + c];
  };
  g::run(p);
  expect_same(f, got, "custom hook");
}

// Conv as an implicit GEMM: a 1-D convolution (stride 1, zero padding 2, kernel 5)
// over a [L, C] input, A = im2col rows from the callback, B = weights packed once.
TEST(Gemm, ImplicitGemmCallbackAndPackedB) {
  for (DType dt : kDtypes) {
    const int64_t L = 97, C = 13, KW = 5, PAD = 2, CO = 40, K = KW * C;
    Mat x = make(L, C, dt, 0, 61), w = make(K, CO, dt, 1, 62);
    // The explicit im2col matrix for the reference and the MatView path.
    Mat col;
    col.rows = L;
    col.cols = K;
    col.rs = K;
    col.cs = 1;
    col.dt = dt;
    col.f.assign(L * K, 0.0f);
    col.h.assign(L * K, 0);
    col.v.assign(L * K, 0.0);
    for (int64_t o = 0; o < L; ++o)
      for (int64_t t = 0; t < KW; ++t)
        for (int64_t c = 0; c < C; ++c) {
          int64_t src = o + t - PAD;
          if (src < 0 || src >= L) continue;
          col.f[o * K + t * C + c] = x.f[src * C + c];
          col.h[o * K + t * C + c] = x.h[src * C + c];
          col.v[o * K + t * C + c] = x.v[src * C + c];
        }
    std::vector<float> explicit_c = run_f32(problem(col, w));
    check_ref(
        col, w, [&](int64_t i, int64_t j) { return explicit_c[i * CO + j]; }, false,
        "im2col reference");
    g::PackedB wp(w.view());
    g::Problem p;
    p.m = L;
    p.n = CO;
    p.k = K;
    p.dtype = dt;
    size_t es = dt == DType::BF16 ? 2 : 4;
    p.a_rows = [&](int64_t m0, int64_t rows, int64_t k0, int64_t kc, void* block, int64_t ld) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < kc; ++t) {
          int64_t kk = k0 + t, tap = kk / C, c = kk % C, src = m0 + r + tap - PAD;
          char* d = static_cast<char*>(block) + (r * ld + t) * es;
          if (src < 0 || src >= L)
            std::memset(d, 0, es);
          else
            std::memcpy(d, static_cast<const char*>(x.data()) + (src * C + c) * es, es);
        }
    };
    p.b_packed = &wp;
    std::vector<float> implicit_c(L * CO, std::nanf(""));
    p.out = {implicit_c.data(), DType::F32, CO, 1};
    g::run(p);
    expect_same(explicit_c, implicit_c,
                std::string("implicit vs explicit ") + std::string(dtype_name(dt)));
  }
}

TEST(Gemm, MismatchedProblemsThrow) {
  Mat a = make(4, 5, DType::F32, 0, 1), b = make(6, 3, DType::F32, 0, 2);
  std::vector<float> c(12);
  g::Problem p = problem(a, b);
  p.out = {c.data(), DType::F32, 3, 1};
  EXPECT_THROW(g::run(p), InvalidArgument);
  Mat bb = make(5, 3, DType::BF16, 0, 3);
  g::Problem q = problem(a, bb);
  q.out = {c.data(), DType::F32, 3, 1};
  EXPECT_THROW(g::run(q), InvalidArgument);
  Mat b2 = make(5, 3, DType::F32, 0, 4);
  g::Problem r = problem(a, b2);
  std::vector<uint16_t> o(12);
  r.out = {o.data(), DType::BF16, 3, 1};
  r.out.accumulate = true;
  EXPECT_THROW(g::run(r), InvalidArgument);
}

}  // namespace
}  // namespace oomless
