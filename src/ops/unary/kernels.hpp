// Elementwise unary kernels on contiguous ranges (f32, or bf16 as uint16_t
// bits). They know nothing about budgets: a planner may call them on any
// sub-range; the result of an element never depends on the split.
//
// Numerics. f32 outputs: the accurate functors below (unary/math-inl.h).
// bf16 outputs of sigmoid, silu, tanh, mish, softplus (beta 1), gelu (both
// forms) and log use cheaper functors sized to bf16 (unary/bf16_math-inl.h:
// degree-4 exp, reciprocal estimates, short series; each derives an f32 error
// below 2^-10.4 before the one rounding, so every result is within 1 bf16 ulp
// of the exact value, checked on all 65,536 inputs); the rest compute the f32
// functor and round once. bf16 stores round to nearest even (vcvtne2ps2bf16
// where the CPU has avx512_bf16).
// f32:
//   relu, hardtanh, clamp, clamp_min, leaky_relu: exact (one rounding for the
//     leaky product), NaN propagates as in torch.
//   exp is FastExp (simd_io-inl.h: Highway's polynomial, 1 ulp, results below
//   2^-125 flush to 0) except in mish, which needs subnormal e^x.
//   sigmoid, silu: x / (1 + exp(-x)) -> <= 3 ulp.
//   tanh: Highway Tanh, <= 4 ulp.
//   mish: x * n / (n + 2), n = e^x (e^x + 2) (== x tanh(softplus x), without
//     the log/tanh round trip) -> <= 5 ulp.
//   softplus: max(bx, 0) + log1p(exp(-|bx|)), / beta; <= 4 ulp (+ |bx| ulp
//     when beta is not a power of two: bx is rounded first, as in torch).
//     Unlike torch it does not overflow to inf when beta*x is in (88, threshold].
//   gelu none: 0.5 x erfc(-x/sqrt2), erfc by the Numerical Recipes Chebyshev fit
//     (rel. error < 1.2e-7) -> <= (8 + x^2) ulp relative everywhere (the x^2
//     part is the rounding of z^2 inside exp); torch's 1 + erf form loses all
//     digits for x < -5, ours keeps them.
//   gelu tanh: x / (1 + exp(-2u)) (== 0.5 x (1 + tanh u)), <= (6 + 4|u|) ulp.
//   Measured maxima over [-12, 12] step 2^-12: sigmoid 1.9, silu 1.7, tanh 2.5,
//   mish 4.3, softplus 2.6, log 0.8 ulp; gelu 25 ulp and gelu tanh 18 ulp for
//   x >= -4 (growing as above in the far negative tail).
//   log: Highway Log (4 ulp); log(0) = -inf, log(<0) = NaN, log(inf) = inf.
#pragma once
#include <cstdint>
#include <string_view>

#include "ops/args.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

// One op's scalar arguments, resolved and validated once per call.
struct UnaryParams {
  float a = 0.f;                        // softplus beta, hardtanh/clamp lower bound, leaky slope
  float b = 0.f;                        // softplus threshold, hardtanh/clamp upper bound
  bool has_lo = false, has_hi = false;  // clamp bounds present
  bool gelu_tanh = false;
};

// Reads and validates `args` for `op`; errors name `name`.
UnaryParams unary_params(UnaryOp op, const Args& args, std::string_view name);

// out[i] = op(in[i]) for i < n, serial. `in` may equal `out` (in place).
// `stream` writes with non-temporal stores (for outputs much larger than the
// last-level cache that nobody reads soon); results are identical.
void unary_kernel(UnaryOp op, const UnaryParams& p, const float* in, float* out, int64_t n,
                  bool stream = false);
void unary_kernel(UnaryOp op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n,
                  bool stream = false);

// The same over OpenMP threads in fixed blocks (small n stays serial);
// streams outputs of 64 MiB and more.
void unary_parallel(UnaryOp op, const UnaryParams& p, const float* in, float* out, int64_t n);
void unary_parallel(UnaryOp op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n);

}  // namespace oomless::ops
