// How the device stores a graph tensor. TT-NN keeps activations as
// [1,1,N*H*W,C] TILE tensors; a channels-last 4-D tensor is exactly that data.
// Any other dense tensor is stored in its memory order (the logical dims sorted
// by stride), so a transpose or permute that torch makes as a view is the same
// pages and costs nothing; a later clone makes the contiguous copy.
#include <algorithm>
#include <numeric>

#include "device/device.hpp"
#include "graph/detail.hpp"

namespace oomless::graph {

namespace {

bool contiguous(const Shape& s, const Strides& st) {
  int64_t expect = 1;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] == 1) continue;
    if (st[i] != expect) return false;
    expect *= s[i];
  }
  return true;
}

// torch's is_contiguous(memory_format=torch.channels_last): dims C, W, H, N
// innermost first, size-1 dims ignored.
bool channels_last(const Shape& s, const Strides& st) {
  if (s.size() != 4) return false;
  int64_t expect = 1;
  for (int d : {1, 3, 2, 0}) {
    if (s[d] == 1) continue;
    if (st[d] != expect) return false;
    expect *= s[d];
  }
  return true;
}

Shape fold_nhwc(const Shape& s) {
  return {1, 1, s[0] * s[2] * s[3], s[1]};
}

int64_t tile_pages(const Shape& s) {
  return page_spec(s, DType::BF16, Layout::Tile).num_pages;
}

}  // namespace

Shape storage_shape(const TensorInfo& t, const Shape& logical) {
  if (t.nhwc) return fold_nhwc(logical);
  Shape out(logical.size());
  for (size_t i = 0; i < logical.size(); ++i) out[i] = logical[t.order[i]];
  return out;
}

PageSpec storage_pages(const TensorInfo& t) {
  return page_spec(t.device_shape, t.dtype.value_or(DType::BF16), Layout::Tile);
}

int64_t storage_bytes(const TensorInfo& t) {
  return storage_pages(t).total_bytes();
}

int64_t bytes_per_bank(const TensorInfo& t, const device::Profile& p, device::BufferType type) {
  PageSpec ps = storage_pages(t);
  bool l1 = type == device::BufferType::L1;
  int64_t banks = l1 ? p.l1_banks : p.dram_banks;
  int64_t align = l1 ? p.l1_alignment : p.dram_alignment;
  return div_up(ps.num_pages, banks) * round_up(ps.page_size, align);
}

namespace detail {

bool same_pages(const Shape& a, const Shape& b) {
  auto dim = [](const Shape& s, size_t back) { return s.size() >= back ? s[s.size() - back] : 1; };
  if (dim(a, 1) != dim(b, 1)) return false;
  int64_t ha = dim(a, 2), hb = dim(b, 2);
  return ha == hb || (ha % kTileDim == 0 && hb % kTileDim == 0);
}

void set_format(TensorInfo& t) {
  const Shape& s = t.shape;
  const Strides& st = t.stride;
  const int r = static_cast<int>(s.size());
  // Memory order: dims of extent > 1 by decreasing stride (ties keep logical
  // order); size-1 dims keep their logical places (they carry no layout, and
  // moving one last would pad it to a whole tile).
  std::vector<int> big;
  for (int d = 0; d < r; ++d)
    if (s[d] != 1) big.push_back(d);
  std::vector<int> sorted = big;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](int a, int b) { return std::abs(st[a]) > std::abs(st[b]); });
  t.order.resize(static_cast<size_t>(r));
  std::iota(t.order.begin(), t.order.end(), 0);
  for (size_t i = 0; i < big.size(); ++i) t.order[big[i]] = sorted[i];
  // Dense: the sorted strides are exactly the contiguous ones of that order.
  int64_t expect = 1;
  t.dense = true;
  for (size_t i = sorted.size(); i-- > 0;) {
    if (st[sorted[i]] != expect) t.dense = false;
    expect *= s[sorted[i]];
  }
  // Channels-last tensors are folded NHWC; where size-1 dims make them also
  // contiguous (the same bytes), the form with fewer tile pages wins.
  t.nhwc = false;
  if (channels_last(s, st)) {
    t.nhwc = !contiguous(s, st) || tile_pages(fold_nhwc(s)) < tile_pages(s);
  } else if (r == 4 && !t.dense && t.order == std::vector<int>{0, 2, 3, 1}) {
    // A gapped view in NHWC order (a channel slice of an activation): a copy
    // of it is an NHWC activation too.
    t.nhwc = true;
  }
  t.device_shape = storage_shape(t, s);
}

}  // namespace detail

}  // namespace oomless::graph
