#include "ops/matmul/kernels.hpp"

#include <type_traits>

namespace oomless::ops::matmul {

namespace {

template <class T>
inline float load(const T* p) {
  if constexpr (std::is_same_v<T, float>)
    return *p;
  else
    return bf16_to_f32(*p);
}

}  // namespace

namespace {

template <class In, class Out, bool UseIn, bool UseAcc>
void epilogue_impl(const float* acc, int64_t cols, float alpha, const In* in, int64_t in_stride,
                   float beta, Out* out) {
  for (int64_t j = 0; j < cols; ++j) {
    float v;
    if constexpr (UseIn && UseAcc)
      v = beta * load(in + j * in_stride) + alpha * acc[j];
    else if constexpr (UseIn)
      v = beta * load(in + j * in_stride);
    else if constexpr (UseAcc)
      v = alpha * acc[j];
    else
      v = 0.0f;
    if constexpr (std::is_same_v<Out, float>)
      out[j] = v;
    else
      out[j] = f32_to_bf16(v);
  }
}

template <class Out>
void epilogue_out(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, Out* out) {
  bool use_in = in != nullptr && beta != 0.0f;
  bool use_acc = alpha != 0.0f;
  const float* inf = static_cast<const float*>(in);
  const uint16_t* inb = static_cast<const uint16_t*>(in);
  if (use_in && in_dtype == DType::BF16) {
    if (use_acc)
      epilogue_impl<uint16_t, Out, true, true>(acc, cols, alpha, inb, in_stride, beta, out);
    else
      epilogue_impl<uint16_t, Out, true, false>(acc, cols, alpha, inb, in_stride, beta, out);
  } else if (use_in) {
    if (use_acc)
      epilogue_impl<float, Out, true, true>(acc, cols, alpha, inf, in_stride, beta, out);
    else
      epilogue_impl<float, Out, true, false>(acc, cols, alpha, inf, in_stride, beta, out);
  } else if (use_acc) {
    epilogue_impl<float, Out, false, true>(acc, cols, alpha, inf, in_stride, beta, out);
  } else {
    epilogue_impl<float, Out, false, false>(acc, cols, alpha, inf, in_stride, beta, out);
  }
}

}  // namespace

void epilogue_row(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, void* out, DType out_dtype) {
  if (out_dtype == DType::BF16)
    epilogue_out(acc, cols, alpha, in, in_dtype, in_stride, beta, static_cast<uint16_t*>(out));
  else
    epilogue_out(acc, cols, alpha, in, in_dtype, in_stride, beta, static_cast<float*>(out));
}

}  // namespace oomless::ops::matmul
