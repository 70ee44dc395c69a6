// bf16-sized math for the unary kernels (include after simd_io-inl.h inside a
// foreach_target TU). A bf16 result keeps 8 significant bits, so an f32 value
// with relative error e < 2^-9 rounds (to nearest) to within 1 bf16 ulp of the
// exact value: |round(y') - y| <= |round(y') - y'| + |y' - y| < ulp/2 + ulp/2.
// These functors spend only what that needs: a degree-4 exp, the hardware
// reciprocal estimate (rcp14 on AVX-512: e_r < 2^-14; rcpps on AVX2:
// e_r < 1.5 * 2^-12; exact on the scalar target) instead of a division, short
// series. Each states its f32 error before the bf16 rounding; all are below
// 2^-10.4 on every target (AVX-512: below 2^-12.5). Lanes outside a functor's
// fast domain (NaN, infinities where the fast form breaks, results that would
// be subnormal) take an accurate tail for that lane only, so an element's
// result never depends on its neighbours. tests/cpp/test_unary_bf16.cpp checks
// all 65,536 bf16 inputs of every op against f64.
#if defined(OOMLESS_OPS_BF16_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OOMLESS_OPS_BF16_MATH_INL_H_
#undef OOMLESS_OPS_BF16_MATH_INL_H_
#else
#define OOMLESS_OPS_BF16_MATH_INL_H_
#endif

#include "hwy/highway.h"
#include "ops/unary/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {

// e^t for t in [-86.9, 88.3] (the result stays normal), relative error
// < 2^-17.2: k = round(t log2e) by the 1.5 * 2^23 trick, f = t log2e - k in
// [-0.5, 0.5] by one FMA (abs. error 2^-25 + |t| * 2^-24 from log2e's rounding
// <= 2^-17.4, i.e. 2^-17.9 relative in 2^f), 2^f by a degree-4 minimax fit
// (relative error 2^-18.5, fitted by Lawson's algorithm on [-0.5, 0.5] and
// checked with the f32 coefficients), 2^k added to the exponent field.
template <class D, class V>
HWY_INLINE V ExpB(D d, V t) {
  const hn::RebindToSigned<D> di;
  const V magic = hn::Set(d, 12582912.f);
  const V log2e = hn::Set(d, 1.44269504088896341f);
  const V tm = hn::MulAdd(t, log2e, magic);
  const V f = hn::MulSub(t, log2e, hn::Sub(tm, magic));
  V p = hn::MulAdd(hn::Set(d, 0.009570102207362652f), f, hn::Set(d, 0.05591786280274391f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.240247443318367f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.6931217908859253f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.9999992847442627f));
  // tm's bits are those of magic plus k: shifted by 23, magic's bits leave.
  const auto k23 = hn::ShiftLeft<23>(hn::BitCast(di, tm));
  return hn::BitCast(d, hn::Add(hn::BitCast(di, p), k23));
}

// fast where ok, tail(x) elsewhere (only evaluated when some lane needs it).
template <class D, class V, class M, class Tail>
HWY_INLINE V WithTail(D d, V x, V fast, M ok, const Tail& tail) {
  if (HWY_LIKELY(hn::AllTrue(d, ok))) return fast;
  return hn::IfThenElse(ok, fast, tail(d, x));
}

// 1 / (1 + e^-x) for x >= -86: e (2^-17.2), 1 + e (2^-24, e's error shrinks by
// e / (1 + e)), reciprocal estimate e_r: total < 2^-17.1 + e_r. Below -86 the
// exact value is e^x (1 + e^x rounds to 1): FastExp, which keeps subnormals.
struct SigmoidB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V e = ExpB(d, hn::Max(hn::Neg(x), hn::Set(d, -86.5f)));
    const V r = hn::ApproximateReciprocal(hn::Add(hn::Set(d, 1.f), e));
    return WithTail(d, x, r, hn::Ge(x, hn::Set(d, -86.f)),
                    [](D d2, V v) { return KeepNaN(d2, v, FastExp(d2, v)); });
  }
};

// x sigmoid(x): the sigmoid's error plus one rounding.
struct SiluB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V e = ExpB(d, hn::Max(hn::Neg(x), hn::Set(d, -86.5f)));
    const V r = hn::Mul(x, hn::ApproximateReciprocal(hn::Add(hn::Set(d, 1.f), e)));
    // x e^x below -86; -inf gives NaN as torch's x / (1 + e^-x).
    return WithTail(d, x, r, hn::Ge(x, hn::Set(d, -86.f)),
                    [](D d2, V v) { return hn::Mul(v, FastExp(d2, v)); });
  }
};

// tanh x = (e - 1) / (e + 1), e = e^2x, x clamped to [-9, 9] (tanh 9 rounds to 1
// in bf16). e - 1 is exact (Sterbenz) but carries e's error times
// e / |e - 1| <= 4.6 for |x| >= 1/8: < 2^-15 + e_r in total. Below 1/8 the
// series x - x^3/3 + 2x^5/15 (truncation 17 x^6 / 315 < 2^-22 relative).
struct TanhB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V nine = hn::Set(d, 9.f);
    const V xc = hn::Min(hn::Max(x, hn::Neg(nine)), nine);
    const V e = ExpB(d, hn::Add(xc, xc));
    const V one = hn::Set(d, 1.f);
    const V big = hn::Mul(hn::Sub(e, one), hn::ApproximateReciprocal(hn::Add(e, one)));
    const V x2 = hn::Mul(x, x);
    const V q = hn::MulAdd(x2, hn::Set(d, 0.13333333333f), hn::Set(d, -0.33333333333f));
    const V small = hn::MulAdd(hn::Mul(x2, x), q, x);
    const V r = hn::IfThenElse(hn::Lt(hn::Abs(x), hn::Set(d, 0.125f)), small, big);
    return KeepNaN(d, x, r);
  }
};

// x n / (n + 2), n = e (e + 2), e = e^min(x, 20) (as the f32 Mish): n has
// relative error <= 2 * 2^-17.2 + 2^-23, the ratio n / (n + 2) passes it on
// times 2 / (n + 2) <= 1, plus e_r: < 2^-15.9 + e_r. Below -80 (x e^x would
// leave ExpB's range soon) the exact value is x e^x to 2^-115.
struct MishB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V e = ExpB(d, hn::Min(hn::Max(x, hn::Set(d, -80.5f)), hn::Set(d, 20.f)));
    const V n = hn::Mul(e, hn::Add(e, hn::Set(d, 2.f)));
    const V r = hn::Mul(x, hn::Mul(n, hn::ApproximateReciprocal(hn::Add(n, hn::Set(d, 2.f)))));
    return WithTail(d, x, r, hn::Ge(x, hn::Set(d, -80.f)),
                    [](D d2, V v) { return hn::Mul(v, FastExp(d2, v)); });
  }
};

// softplus, beta 1: max(x, 0) + log1p(y), y = e^-|x| in (0, 1], log1p(y) =
// 2 atanh(s), s = y / (2 + y) <= 1/3, by 2s (1 + s^2/3 + s^4/5 + s^6/7)
// (truncation s^8 / 9 / (1 - s^2) < 2^-15.7 relative). s carries y's 2^-17.2
// and e_r; the sum of two non-negative terms adds no error beyond its
// rounding: < 2^-14.9 + e_r. Below -86: e^x (log1p(y) = y to 2^-86).
struct SoftplusB {
  float threshold;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V y = ExpB(d, hn::Max(hn::Neg(hn::Abs(x)), hn::Set(d, -86.5f)));
    const V s = hn::Mul(y, hn::ApproximateReciprocal(hn::Add(y, hn::Set(d, 2.f))));
    const V s2 = hn::Mul(s, s);
    V q = hn::MulAdd(s2, hn::Set(d, 1.f / 7), hn::Set(d, 0.2f));
    q = hn::MulAdd(s2, q, hn::Set(d, 1.f / 3));
    const V twos = hn::Add(s, s);
    const V l1p = hn::MulAdd(hn::Mul(twos, s2), q, twos);
    V r = hn::Add(hn::Max(x, hn::Zero(d)), l1p);
    r = hn::IfThenElse(hn::Gt(x, hn::Set(d, threshold)), x, r);
    return WithTail(d, x, r, hn::Ge(x, hn::Set(d, -86.f)),
                    [](D d2, V v) { return KeepNaN(d2, v, FastExp(d2, v)); });
  }
};

// gelu (erf form) = x Phi(x) = x sigmoid(g), g = logit Phi(x) = x Q(x^2), Q of
// degree 5 fitted (Lawson) to the f64 logit for |x| <= 4: |g - x Q| < 2^-14
// with the f32 coefficients, which moves sigmoid(g) by (1 - sigmoid) 2^-14
// relative. Above 4, x^2 is clamped to 16: g >= 10.4 and Phi(x) within
// 3.2e-5 = 2^-14.9 of 1. Then the sigmoid's exp (2^-17.2, g's rounding
// <= 2^-19) and e_r: < 2^-13.3 + e_r. Below -4 (logit far from polynomial)
// and NaN: the f32 GeluErf.
struct GeluErfB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V x2 = hn::Min(hn::Mul(x, x), hn::Set(d, 16.f));
    V q = hn::MulAdd(hn::Set(d, -7.413772351583248e-08f), x2, hn::Set(d, 4.017461378680309e-06f));
    q = hn::MulAdd(q, x2, hn::Set(d, -7.257126708282158e-05f));
    q = hn::MulAdd(q, x2, hn::Set(d, -0.0002428103907732293f));
    q = hn::MulAdd(q, x2, hn::Set(d, 0.07301831990480423f));
    q = hn::MulAdd(q, x2, hn::Set(d, 1.5955712795257568f));
    const V e = ExpB(d, hn::Max(hn::Neg(hn::Mul(x, q)), hn::Set(d, -86.5f)));
    const V r = hn::Mul(x, hn::ApproximateReciprocal(hn::Add(hn::Set(d, 1.f), e)));
    return WithTail(d, x, r, hn::Ge(x, hn::Set(d, -4.f)), GeluErf{});
  }
};

// gelu (tanh form) = x / (1 + e^-2u): the sigmoid's error, with -2u's rounding
// (3 roundings of a value <= 86: 2^-14.6 in the exponent): < 2^-14.4 + e_r.
// Where -2u > 86 (x < -9.4) and NaN: x e^2u, as 1 + e^-2u rounds to e^-2u.
struct GeluTanhB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V x3 = hn::Mul(hn::Mul(x, x), x);
    const V u =
        hn::Mul(hn::Set(d, 0.7978845608028654f), hn::Add(x, hn::Mul(hn::Set(d, 0.044715f), x3)));
    const V a = hn::Neg(hn::Add(u, u));
    const V e = ExpB(d, hn::Max(a, hn::Set(d, -86.5f)));
    const V r = hn::Mul(x, hn::ApproximateReciprocal(hn::Add(hn::Set(d, 1.f), e)));
    return WithTail(d, x, r, hn::Le(a, hn::Set(d, 86.f)), [](D d2, V v) {
      const V v3 = hn::Mul(hn::Mul(v, v), v);
      const V w = hn::Mul(hn::Set(d2, 0.7978845608028654f),
                          hn::Add(v, hn::Mul(hn::Set(d2, 0.044715f), v3)));
      return hn::Mul(v, FastExp(d2, hn::Add(w, w)));
    });
  }
};

// log x = k ln2 + log m, m in [sqrt(1/2), sqrt 2); log m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| <= 0.1716, by 2s (1 + s^2/3 + s^4/5)
// (truncation < 2^-23). m - 1 is exact, s carries e_r and 2 roundings; with
// k != 0, |k ln2| <= 2 |result|: < 2 e_r + 2^-21 relative. Zero, negatives,
// subnormals, inf and NaN: the f32 Log.
struct LogB {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const hn::RebindToSigned<D> di;
    const auto sqrt_half = hn::Set(di, 0x3f3504f3);
    const auto u = hn::Sub(hn::BitCast(di, x), sqrt_half);
    const V k = hn::ConvertTo(d, hn::ShiftRight<23>(u));
    const V m = hn::BitCast(d, hn::Add(hn::And(u, hn::Set(di, 0x007fffff)), sqrt_half));
    const V f = hn::Sub(m, hn::Set(d, 1.f));
    const V s = hn::Mul(f, hn::ApproximateReciprocal(hn::Add(f, hn::Set(d, 2.f))));
    const V s2 = hn::Mul(s, s);
    const V q = hn::MulAdd(s2, hn::Set(d, 0.2f), hn::Set(d, 1.f / 3));
    const V twos = hn::Add(s, s);
    const V lm = hn::MulAdd(hn::Mul(twos, s2), q, twos);
    const V r = hn::MulAdd(k, hn::Set(d, 0.693147180559945309f), lm);
    const auto ok = hn::And(hn::Ge(x, hn::Set(d, 1.17549435e-38f)),
                            hn::Le(x, hn::Set(d, 3.40282347e+38f)));
    return WithTail(d, x, r, ok, Log{});
  }
};

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_BF16_MATH_INL_H_
