#include "ops/conv/common.hpp"

#include <omp.h>

#include <array>

#include "ops/conv/gemm_conv.hpp"

namespace oomless::ops::conv {

std::vector<RedBlock> reduction_blocks(const ConvGeom& g) {
  const int64_t T = g.kh * g.kw, cpg = g.cin_per_group();
  if (cpg * T <= kMaxBlockTerms) return {{0, T, 0, cpg}};
  std::vector<RedBlock> blocks;
  if (cpg <= kMaxBlockTerms) {
    const int64_t taps = kMaxBlockTerms / cpg;
    for (int64_t t = 0; t < T; t += taps) blocks.push_back({t, std::min(T, t + taps), 0, cpg});
    return blocks;
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < cpg; c += kMaxBlockTerms)
      blocks.push_back({t, t + 1, c, std::min(cpg, c + kMaxBlockTerms)});
  return blocks;
}

float* scratch(int slot, int64_t n) {
  thread_local std::array<std::vector<float>, 3> bufs;
  auto& b = bufs[static_cast<size_t>(slot)];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

int64_t rows_per_item(const ConvGeom& g, int64_t other_items, int64_t per_row, int64_t stage_cap) {
  const int64_t want_items = int64_t{8} * omp_get_max_threads();
  int64_t rows = std::max<int64_t>(1, g.OH * std::max<int64_t>(other_items, 1) / want_items);
  rows = std::min<int64_t>(rows, 16);
  const int64_t eh = (g.kh - 1) * g.dh + 1;
  while (rows > 1 && ((rows - 1) * g.sh + eh) * per_row > stage_cap) rows /= 2;
  return std::min(rows, std::max<int64_t>(g.OH, 1));
}

}  // namespace oomless::ops::conv

namespace oomless::ops::conv {

void conv_dense(const ConvGeom& g, const ConvArgs& a) {
  conv_gemm(g, a);
}

void conv_depthwise(const ConvGeom& g, const ConvArgs& a) {
  if (g.channels_last)
    conv_nhwc_depthwise(g, a);
  else
    conv_nchw(g, a);
}

}  // namespace oomless::ops::conv
