// The peers the benchmark driver (bench/bench.py) compares oomless against, measured
// in the same run: a STREAM-like copy (the machine's memory bandwidth), a read-only
// sum (the bound of a reduction) and OpenBLAS sgemm at a given shape and thread
// count. Prints one JSON object per command.
//
//   oomless_bench copy  [--mb 800] [--threads 2] [--reps 5]
//   oomless_bench read  [--mb 800] [--threads 2] [--reps 5]
//   oomless_bench sgemm --m M --n N --k K [--batch B] [--threads 2] [--reps 3]
//   oomless_bench peak  [--threads 2]   (FMA f32 and vdpbf16ps throughput)
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of the calling thread: excludes the time other processes hold its core.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int64_t flag(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return def;
}

// STREAM "copy": a[i] = b[i] over arrays far larger than the caches, pages touched
// first by the same threads and static schedule as the timed loop. Bytes counted as
// STREAM does: one read and one write per element.
int copy(int argc, char** argv) {
  int64_t mb = flag(argc, argv, "--mb", 800);
  int threads = static_cast<int>(flag(argc, argv, "--threads", 2));
  int reps = static_cast<int>(flag(argc, argv, "--reps", 5));
  int64_t n = mb * (1 << 20) / static_cast<int64_t>(sizeof(double));
  std::vector<double> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  double* pa = a.data();
  double* pb = b.data();
  omp_set_num_threads(threads);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    pa[i] = 0.0;
    pb[i] = static_cast<double>(i & 1023);
  }
  std::vector<double> times;
  for (int r = 0; r <= reps; ++r) {  // rep 0 warms up
    auto t0 = Clock::now();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i];
    double t = seconds_since(t0);
    if (r > 0) times.push_back(t);
  }
  double bytes = 2.0 * static_cast<double>(n) * sizeof(double);
  double best = *std::min_element(times.begin(), times.end());
  double med = median(times);
  std::printf(
      "{\"kernel\": \"copy\", \"threads\": %d, \"array_bytes\": %lld, \"bytes_per_rep\": %.0f, "
      "\"median_seconds\": %.6g, \"best_seconds\": %.6g, \"gbps_median\": %.4g, "
      "\"gbps_best\": %.4g, \"check\": %g}\n",
      threads, static_cast<long long>(n * 8), bytes, med, best, bytes / med * 1e-9,
      bytes / best * 1e-9, pa[n - 1]);
  return 0;
}

// A sum over one array far larger than the caches: the read bandwidth that bounds a
// reduction (mean, norm), which reads its input and writes almost nothing.
int read(int argc, char** argv) {
  int64_t mb = flag(argc, argv, "--mb", 800);
  int threads = static_cast<int>(flag(argc, argv, "--threads", 2));
  int reps = static_cast<int>(flag(argc, argv, "--reps", 5));
  int64_t n = mb * (1 << 20) / static_cast<int64_t>(sizeof(double));
  std::vector<double> b(static_cast<size_t>(n));
  double* pb = b.data();
  omp_set_num_threads(threads);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) pb[i] = static_cast<double>(i & 1023);
  std::vector<double> times;
  double total = 0;
  for (int r = 0; r <= reps; ++r) {  // rep 0 warms up
    auto t0 = Clock::now();
    double sum = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += pb[i];
    double t = seconds_since(t0);
    total += sum;
    if (r > 0) times.push_back(t);
  }
  double bytes = static_cast<double>(n) * sizeof(double);
  double med = median(times);
  std::printf(
      "{\"kernel\": \"read\", \"threads\": %d, \"bytes_per_rep\": %.0f, \"median_seconds\": "
      "%.6g, \"gbps_median\": %.4g, \"check\": %g}\n",
      threads, bytes, med, bytes / med * 1e-9, total);
  return 0;
}

// C[b] = A[b] (m x k) * B[b] (k x n), row-major, f32, through OpenBLAS with
// `threads` threads: the peer of oomless's GEMM kernels on the same shape.
int sgemm(int argc, char** argv) {
  int64_t m = flag(argc, argv, "--m", 0), n = flag(argc, argv, "--n", 0),
          k = flag(argc, argv, "--k", 0);
  int64_t batch = flag(argc, argv, "--batch", 1);
  int threads = static_cast<int>(flag(argc, argv, "--threads", 2));
  int reps = static_cast<int>(flag(argc, argv, "--reps", 3));
  if (m <= 0 || n <= 0 || k <= 0 || batch <= 0) {
    std::fprintf(stderr, "sgemm: --m, --n, --k (and --batch) must be positive\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  std::vector<float> a(static_cast<size_t>(batch * m * k)), b(static_cast<size_t>(batch * k * n)),
      c(static_cast<size_t>(batch * m * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 97) / 97.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 89) / 89.0f;
  std::fill(c.begin(), c.end(), 0.0f);
  std::vector<double> times;
  for (int r = 0; r <= reps; ++r) {  // rep 0 warms up
    auto t0 = Clock::now();
    for (int64_t i = 0; i < batch; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), 1.0f, a.data() + i * m * k,
                  static_cast<int>(k), b.data() + i * k * n, static_cast<int>(n), 0.0f,
                  c.data() + i * m * n, static_cast<int>(n));
    double t = seconds_since(t0);
    if (r > 0) times.push_back(t);
  }
  double flops = 2.0 * static_cast<double>(batch) * static_cast<double>(m) *
                 static_cast<double>(n) * static_cast<double>(k);
  double med = median(times);
  std::printf(
      "{\"kernel\": \"sgemm\", \"threads\": %d, \"batch\": %lld, \"m\": %lld, \"n\": %lld, "
      "\"k\": %lld, \"flops\": %.0f, \"median_seconds\": %.6g, \"gflops\": %.4g, "
      "\"check\": %g}\n",
      threads, static_cast<long long>(batch), static_cast<long long>(m), static_cast<long long>(n),
      static_cast<long long>(k), flops, med, flops / med * 1e-9,
      static_cast<double>(c[c.size() - 1]));
  return 0;
}

// The machine's arithmetic peak: 24 independent accumulator chains (enough to cover
// the latency of vfmadd231ps and vdpbf16ps at two per cycle) on registers only.
// Counted as 2 flops per f32 lane per FMA, 4 per lane per vdpbf16ps (two products).
template <bool Bf16>
__attribute__((target("avx512f,avx512bf16"), noinline)) float peak_loop(int64_t iters, float seed) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed * static_cast<float>(i));
  __m512 a = _mm512_set1_ps(seed), b = _mm512_set1_ps(0.999f);
  __m512bh ah = (__m512bh)_mm512_set1_epi16(0x3f80), bh = (__m512bh)_mm512_set1_epi16(0x3f7f);
  asm volatile("" : "+v"(a), "+v"(b), "+v"(ah), "+v"(bh));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) {
      if constexpr (Bf16)
        acc[i] = _mm512_dpbf16_ps(acc[i], ah, bh);
      else
        acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
    }
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}

int peak(int argc, char** argv) {
  int threads = static_cast<int>(flag(argc, argv, "--threads", 2));
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
    std::printf("{\"kernel\": \"peak\", \"error\": \"no avx512_bf16\"}\n");
    return 0;
  }
  const int64_t iters = 20000000;
  // Wall-clock rate, and the sum of the threads' rates over their own CPU time: the
  // cores' peak even when other processes take turns on them (a shared machine).
  double gflops[2] = {0, 0}, cpu_gflops[2] = {0, 0};
  float check = 0;
  for (int bf = 0; bf < 2; ++bf)
    for (int r = 0; r < 3; ++r) {
      auto t0 = Clock::now();
      float sink = 0;
      double cpu_rate = 0;
      const double per_thread = static_cast<double>(iters) * 24 * 16 * (bf ? 4 : 2);
#pragma omp parallel num_threads(threads) reduction(+ : sink, cpu_rate)
      {
        const double c0 = thread_cpu_seconds();
        sink += bf ? peak_loop<true>(iters, 1.0f) : peak_loop<false>(iters, 1.0f);
        cpu_rate += per_thread / (thread_cpu_seconds() - c0) * 1e-9;
      }
      double t = seconds_since(t0);
      check += sink;
      gflops[bf] = std::max(gflops[bf], threads * per_thread / t * 1e-9);
      cpu_gflops[bf] = std::max(cpu_gflops[bf], cpu_rate);
    }
  std::printf(
      "{\"kernel\": \"peak\", \"threads\": %d, \"f32_fma_gflops\": %.1f, "
      "\"bf16_dpbf16_gflops\": %.1f, \"f32_fma_gflops_cpu\": %.1f, "
      "\"bf16_dpbf16_gflops_cpu\": %.1f, \"check\": %g}\n",
      threads, gflops[0], gflops[1], cpu_gflops[0], cpu_gflops[1], static_cast<double>(check));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "copy") return copy(argc, argv);
  if (cmd == "read") return read(argc, argv);
  if (cmd == "sgemm") return sgemm(argc, argv);
  if (cmd == "peak") return peak(argc, argv);
  std::fprintf(stderr,
               "usage: oomless_bench copy|read [--mb 800] [--threads 2] [--reps 5]\n"
               "       oomless_bench sgemm --m M --n N --k K [--batch 1] [--threads 2] "
               "[--reps 3]\n"
               "       oomless_bench peak [--threads 2]\n");
  return 2;
}
