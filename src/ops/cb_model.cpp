// Per-core circular buffers of the TT-NN program that runs each op family,
// for interleaved tensors. A page is one tile (tile_page_bytes) in TILE
// layout or one row (last dim x element size) in ROW_MAJOR layout. Where a
// program factory was read, the function says which one; everything else is
// an approximation, documented where it is made. Calls whose outputs are all
// empty launch no program (TT-NN returns early) and get no CBs.
#include "ops/cb_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "ops/device_cost.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

namespace {

constexpr int64_t kBf16Tile = 2048;  // Float16_b tile: scalers, masks, intermediates

bool no_work(const OutputSpec& out) {
  for (const auto& o : out.outputs)
    if (numel(o.shape) != 0) return false;
  return true;
}

int64_t tile_bytes(DType t) {
  return tile_page_bytes(t);
}

// One page of `t` as the device stores it.
int64_t page_bytes(const OpDesc& op, const TensorSpec& t, Layout l) {
  if (l == Layout::Tile) return tile_bytes(t.dtype);
  if (t.dtype == DType::BFP8_B)
    fail(op.name, "bfloat8_b requires TILE layout; it has no ROW_MAJOR pages");
  int64_t width = t.shape.empty() ? 1 : t.shape.back();
  return width * static_cast<int64_t>(element_size(t.dtype));
}

// Element bytes for row-major sticks; bfloat8_b data is unpacked to bfloat16.
int64_t stick_elem_bytes(DType t) {
  return t == DType::BFP8_B ? 2 : static_cast<int64_t>(element_size(t));
}

int64_t l1_align(const DeviceContext& ctx) {
  return ctx.profile ? ctx.profile->l1_alignment : 16;
}

// The alignment TT-NN data-movement factories round row pages to (the larger
// of the L1 and DRAM alignments; 32 B on Wormhole).
int64_t buffer_align(const DeviceContext& ctx) {
  return ctx.profile ? std::max(ctx.profile->l1_alignment, ctx.profile->dram_alignment) : 32;
}

CircularBuffer cb(std::string name, int64_t pages, int64_t page_size) {
  return {std::move(name), pages, page_size};
}

// tt::tt_metal::find_max_divisor: the largest divisor of val <= start, never 5 or 7.
int64_t find_max_divisor(int64_t val, int64_t start) {
  for (int64_t d = start; d >= 1; --d) {
    if (d == 5 || d == 7) continue;
    if (val % d == 0) return d;
  }
  return 1;
}

int64_t height_of(const Shape& s) {
  return s.size() >= 2 ? s[s.size() - 2] : 1;
}
int64_t width_of(const Shape& s) {
  return s.empty() ? 1 : s.back();
}

// Whether TT-NN can reshape `from` into `to` without moving data. TILE: the
// last dim is unchanged and the second-to-last is too, or both are whole
// tiles (full tile rows just fold into height). ROW_MAJOR: pages are rows, so
// the last dim must be unchanged.
bool device_view(const Shape& from, const Shape& to, Layout l) {
  if (width_of(from) != width_of(to)) return false;
  if (l == Layout::RowMajor) return true;
  int64_t hf = height_of(from), ht = height_of(to);
  return hf == ht || (hf % kTileDim == 0 && ht % kTileDim == 0);
}

// 2 pages in, 2 pages out: TT-NN's reader -> writer data-movement programs.
std::vector<CircularBuffer> copy_cbs(const OpDesc& op, const TensorSpec& in, const TensorSpec& out,
                                     Layout l) {
  return {cb("cb_in0", 2, page_bytes(op, in, l)), cb("cb_out0", 2, page_bytes(op, out, l))};
}

}  // namespace

std::vector<CircularBuffer> cb_none(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                    const DeviceContext&) {
  return {};
}

// Eltwise unary/binary (and dropout, ones): double-buffered pages per operand,
// as TT-NN's eltwise factories allocate (num_input_tiles = num_output_tiles = 2).
// Approximations: add/sub with alpha != 1 adds one double-buffered
// intermediate CB for the scaled `other` (binary_ng's pre-processing CB);
// dropout runs as a unary SFPU op (the mask is not materialised on device);
// ones runs a writer-only fill program with one double-buffered output CB.
std::vector<CircularBuffer> cb_eltwise(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                       const Args& args, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  Layout l = ctx.layout;
  const TensorSpec& o = out.outputs.at(0);
  std::vector<CircularBuffer> cbs;
  switch (op.family) {
    case Family::Binary: {
      cbs.push_back(cb("cb_in0", 2, page_bytes(op, in.at(0), l)));
      cbs.push_back(cb("cb_in1", 2, page_bytes(op, in.at(1), l)));
      auto v = static_cast<BinaryOp>(op.variant);
      if ((v == BinaryOp::Add || v == BinaryOp::Sub) && args.get_float("alpha") != 1.0)
        cbs.push_back(cb("cb_in1_scaled", 2, page_bytes(op, {in.at(1).shape, o.dtype}, l)));
      cbs.push_back(cb("cb_out0", 2, page_bytes(op, o, l)));
      return cbs;
    }
    case Family::Creation:
      return {cb("cb_out0", 2, page_bytes(op, o, l))};
    default:
      for (size_t i = 0; i < in.size(); ++i)
        cbs.push_back(cb(fmt::format("cb_in{}", i), 2, page_bytes(op, in[i], l)));
      cbs.push_back(cb("cb_out0", 2, page_bytes(op, o, l)));
      return cbs;
  }
}

// TT-NN softmax, interleaved multi-core factory (tt-metal
// ttnn/cpp/ttnn/operations/normalization/softmax/device/multi_core/
// softmax_op_multi_core.cpp, cross-checked with softmax_l1_interface.cpp):
// block = find_max_divisor(Wt, 8); in0 2*block tiles, out0 2*block, exps
// intermediate Wt tiles (the whole row), 1/sum 1, reduce scaler 1, padding
// mask 1; intermediates, scaler and mask are bfloat16 tiles (fp32_dest_acc_en
// off and numeric_stable off, ttnn.softmax's defaults). This reproduces
// tt-metal#18997: f32 (32, 32000) -> 2,185,216 B of CBs, "grow to 2287328 B"
// with that build's 102,112 B L1 base. Not modelled: the streaming
// large-tensor kernel tt-metal added in June 2025 (PR #23130, after the seed
// runs), which caps the CBs at 80 tiles when in0 + exps exceed 90% of L1.
// Approximation: a dim other than the last is sized as if moved last.
std::vector<CircularBuffer> cb_softmax(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                       const Args& args, const DeviceContext&) {
  if (no_work(out)) return {};
  const TensorSpec& x = in.at(0);
  int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t dim = normalize_dim(args.get_int("dim"), r, op.name);
  int64_t w = r > 0 ? x.shape[dim] : 1;
  int64_t wt = div_up(w, kTileDim);
  int64_t block = find_max_divisor(wt, 8);
  return {cb("in0", 2 * block, tile_bytes(x.dtype)),
          cb("out0", 2 * block, tile_bytes(out.outputs.at(0).dtype)),
          cb("im1_recip_sum", 1, kBf16Tile),
          cb("in2_scaler", 1, kBf16Tile),
          cb("im0_exps", wt, kBf16Tile),
          cb("in5_mask", 1, kBf16Tile)};
}

// TT-NN reduce (mean/sum over W or H): input 2 tiles, bfloat16 scaler 1 tile,
// output 2 tiles. Approximation: multi-dim means and vector norms (a composite
// of eltwise + reduce in TT-NN) are sized as one reduce program, the larger
// of their programs.
std::vector<CircularBuffer> cb_reduce(const OpDesc&, CbArgs in, const OutputSpec& out, const Args&,
                                      const DeviceContext&) {
  if (no_work(out)) return {};
  return {cb("cb_in0", 2, tile_bytes(in.at(0).dtype)), cb("cb_scaler", 1, kBf16Tile),
          cb("cb_out0", 2, tile_bytes(out.outputs.at(0).dtype))};
}

// TT-NN batch_norm factory (tt-metal ttnn/cpp/ttnn/operations/normalization/
// batch_norm/device/batch_norm_program_factory.cpp): ten double-buffered
// single-tile CBs c_0..c_9 (input, batch_mean, output, batch_var, eps, weight,
// bias, den, num, temp). Weight/bias CBs are bfloat16 when absent. In training
// the batch statistics and running-stat update are separate, smaller
// programs; this is the peak one.
std::vector<CircularBuffer> cb_batch_norm(const OpDesc&, CbArgs in, const OutputSpec& out,
                                          const Args&, const DeviceContext&) {
  if (no_work(out)) return {};
  int64_t a = tile_bytes(in.at(0).dtype);
  int64_t c = tile_bytes(out.outputs.at(0).dtype);
  int64_t w = in.size() > 1 ? tile_bytes(in[1].dtype) : kBf16Tile;
  int64_t b = in.size() > 2 ? tile_bytes(in[2].dtype) : kBf16Tile;
  return {cb("input", 2, a), cb("batch_mean", 2, a), cb("output", 2, c), cb("batch_var", 2, a),
          cb("eps", 2, a),   cb("weight", 2, w),     cb("bias", 2, b),   cb("den", 2, a),
          cb("num", 2, a),   cb("temp", 2, a)};
}

// TT-NN max_pool2d reads row-major NHWC sticks. Approximation: the window CB
// holds kernel_h*kernel_w sticks of C elements (each rounded up to the L1
// alignment), double-buffered; a bfloat16 scaler tile; the output values and
// int32 indices as C/32 tiles, double-buffered.
std::vector<CircularBuffer> cb_max_pool2d(const OpDesc&, CbArgs in, const OutputSpec& out,
                                          const Args& args, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  const TensorSpec& x = in.at(0);
  std::vector<int64_t> k = args.get_ints("kernel_size");
  int64_t kh = k.at(0), kw = k.size() > 1 ? k[1] : k[0];
  bool cl = args.get_bool("channels_last");
  int64_t c = x.shape.size() == 3 ? x.shape[0] : (cl ? x.shape.at(3) : x.shape.at(1));
  int64_t stick = round_up(c * stick_elem_bytes(x.dtype), l1_align(ctx));
  int64_t ct = div_up(c, kTileDim);
  return {cb("in_window", 2 * kh * kw, stick), cb("in_scalar", 1, kBf16Tile),
          cb("out", 2 * ct, tile_bytes(out.outputs.at(0).dtype)),
          cb("out_indices", 2 * ct, tile_bytes(DType::I32))};
}

// TT-NN upsample (nearest, interleaved): the reader streams input sticks of C
// elements and the writer repeats each one scale_h*scale_w times.
// Approximation: 2 input and 2 output sticks, rounded up to the L1 alignment.
std::vector<CircularBuffer> cb_upsample(const OpDesc&, CbArgs in, const OutputSpec& out,
                                        const Args& args, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  const TensorSpec& x = in.at(0);
  int64_t c = args.get_bool("channels_last") ? x.shape.at(3) : x.shape.at(1);
  int64_t stick = round_up(c * stick_elem_bytes(x.dtype), l1_align(ctx));
  return {cb("cb_in0", 2, stick), cb("cb_out0", 2, stick)};
}

// TT-NN topk, single-core interleaved factory (tt-metal ttnn/cpp/ttnn/
// operations/reduction/topk/device/topk_program_factory.cpp and
// topk_single_core_program_factory.cpp): input 4 tiles, generated indices 4,
// transposed values/indices 4 each, result-prep values/indices 2*Kt each,
// output values/indices Kt each (Kt = ceil(k/32)). Indices are uint16 tiles
// (2048 B) while the padded dim is < 65535, else uint32. The factory streams
// the row; it does not hold 2*Wt tiles (its source notes that as a TODO).
// Block-float inputs sort in bfloat16. Approximation: the multi-core split
// TT-NN picks for very wide rows is not modelled.
std::vector<CircularBuffer> cb_topk(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                    const Args& args, const DeviceContext&) {
  if (no_work(out)) return {};
  const TensorSpec& x = in.at(0);
  int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t dim = normalize_dim(args.get_int("dim"), r, op.name);
  int64_t size = r > 0 ? x.shape[dim] : 1;
  int64_t kt = div_up(args.get_int("k"), kTileDim);
  int64_t ind = round_up(size, kTileDim) < 65535 ? kBf16Tile : tile_bytes(DType::U32);
  int64_t val = tile_bytes(x.dtype);
  int64_t compute = x.dtype == DType::BFP8_B ? kBf16Tile : val;
  int64_t out_val = tile_bytes(out.outputs.at(0).dtype);
  return {cb("input", 4, val),
          cb("index", 4, ind),
          cb("transposed_val", 4, compute),
          cb("transposed_ind", 4, ind),
          cb("result_prep_val", 2 * kt, compute),
          cb("result_prep_ind", 2 * kt, ind),
          cb("output_val", kt, out_val),
          cb("output_ind", kt, ind)};
}

// Views need no program when the device can alias them: view/_unsafe_view/
// unsqueeze, a permute/transpose that only moves size-1 dims, and an expand
// that adds no elements are reshapes, free unless they change the tile-padded
// last two dims (see device_view), in which case TT-NN's reshape runs a copy
// program. A real permute/transpose, an expand that grows (ttnn.expand
// materialises), clone and copy run reader/writer programs: 2 pages in, 2 out.
std::vector<CircularBuffer> cb_movement(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                        const Args& args, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  Layout l = ctx.layout;
  const TensorSpec& x = in.at(0);
  const TensorSpec& o = out.outputs.at(0);
  auto reshape = [&]() -> std::vector<CircularBuffer> {
    if (device_view(x.shape, o.shape, l)) return {};
    return copy_cbs(op, x, o, l);
  };
  auto relabel = [&](const std::vector<int64_t>& perm) {
    int64_t last = -1;
    for (int64_t d : perm) {
      if (x.shape[d] == 1) continue;
      if (d < last) return false;
      last = d;
    }
    return true;
  };
  int64_t r = static_cast<int64_t>(x.shape.size());
  switch (static_cast<MovementOp>(op.variant)) {
    case MovementOp::Identity:
      return {};
    case MovementOp::Slice:
    case MovementOp::Select:
      // A range of whole pages is a view; anything else is TT-NN's slice program.
      return needs_device_buffer(op, in, out, 0, args, l) ? copy_cbs(op, x, o, l)
                                                          : std::vector<CircularBuffer>{};
    case MovementOp::View:
    case MovementOp::UnsafeView:
    case MovementOp::Unsqueeze:
      return reshape();
    case MovementOp::Expand:
      return numel(o.shape) == numel(x.shape) ? reshape() : copy_cbs(op, x, o, l);
    case MovementOp::Permute:
    case MovementOp::Transpose: {
      std::vector<int64_t> perm(static_cast<size_t>(r));
      for (int64_t i = 0; i < r; ++i) perm[i] = i;
      if (static_cast<MovementOp>(op.variant) == MovementOp::Permute) {
        std::vector<int64_t> dims = args.get_ints("dims");
        for (int64_t i = 0; i < r; ++i) perm[i] = normalize_dim(dims.at(i), r, op.name);
      } else if (r > 0) {
        std::swap(perm[normalize_dim(args.get_int("dim0"), r, op.name)],
                  perm[normalize_dim(args.get_int("dim1"), r, op.name)]);
      }
      return relabel(perm) ? reshape() : copy_cbs(op, x, o, l);
    }
    case MovementOp::Clone:
      return copy_cbs(op, x, o, l);
    case MovementOp::Copy:
      return copy_cbs(op, in.at(1), o, l);
  }
  return {};
}

// TT-NN concat, interleaved multi-core factory (concat_program_factory.cpp):
// one reader->writer CB of 2 pages for all inputs; the page is a tile, or in
// ROW_MAJOR one output row rounded up to the buffer alignment. stack is
// unsqueeze + concat in TT-NN; the unsqueezes are not counted.
std::vector<CircularBuffer> cb_concat(const OpDesc& op, CbArgs, const OutputSpec& out, const Args&,
                                      const DeviceContext& ctx) {
  if (no_work(out)) return {};
  const TensorSpec& o = out.outputs.at(0);
  int64_t page = ctx.layout == Layout::Tile
                     ? tile_bytes(o.dtype)
                     : round_up(page_bytes(op, o, ctx.layout), buffer_align(ctx));
  return {cb("cb_in0", 2, page)};
}

// TT-NN split runs one slice program per output (sequentially, so the peak is
// one program): a reader->writer CB of 2 input pages. Approximation: the
// dedicated two-chunk tiled split program is sized the same.
std::vector<CircularBuffer> cb_split(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                     const Args&, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  return {cb("cb_in0", 2, page_bytes(op, in.at(0), ctx.layout))};
}

// TT-NN matmul, 2-D multicast factory, approximated: Mt/Nt (tiles) are split
// over the grid rows/columns (per_core_M = ceil(Mt/grid_y), per_core_N =
// ceil(Nt/grid_x)), in0_block_w = the largest divisor of Kt <= 4; in0 block
// per_core_M x in0_block_w and in1 block in0_block_w x per_core_N, both
// double-buffered; the output block per_core_M x per_core_N; with a bias
// (linear, addmm) one row of per_core_N bias tiles. bmm folds its batch into
// M. Matmul always runs in TILE layout (row-major inputs are tilized first).
std::vector<CircularBuffer> cb_matmul(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                      const Args&, const DeviceContext& ctx) {
  if (no_work(out)) return {};
  int64_t m = 1, k = 1, n = 1, batch = 1;
  const TensorSpec *a = &in.at(0), *b = &in.at(1), *bias = nullptr;
  switch (static_cast<MatmulOp>(op.variant)) {
    case MatmulOp::Mm:
      m = a->shape.at(0), k = a->shape.at(1), n = b->shape.at(1);
      break;
    case MatmulOp::Bmm:
      batch = a->shape.at(0), m = a->shape.at(1), k = a->shape.at(2), n = b->shape.at(2);
      break;
    case MatmulOp::Addmm:
      bias = &in.at(0), a = &in.at(1), b = &in.at(2);
      m = a->shape.at(0), k = a->shape.at(1), n = b->shape.at(1);
      break;
    case MatmulOp::Linear:
      k = a->shape.back();
      m = numel(Shape(a->shape.begin(), a->shape.end() - 1));
      n = b->shape.size() == 2 ? b->shape[0] : 1;
      if (in.size() > 2) bias = &in[2];
      break;
  }
  int64_t gx = ctx.profile ? ctx.profile->grid_x : 8, gy = ctx.profile ? ctx.profile->grid_y : 8;
  int64_t mt = batch * div_up(m, kTileDim), kt = div_up(k, kTileDim), nt = div_up(n, kTileDim);
  int64_t pm = div_up(mt, gy), pn = div_up(nt, gx);
  int64_t bw = kt > 0 ? find_max_divisor(kt, 4) : 1;
  // find_max_divisor skips 5 and 7, which are > 4 anyway.
  std::vector<CircularBuffer> cbs{cb("in0", 2 * pm * bw, tile_bytes(a->dtype)),
                                  cb("in1", 2 * bw * pn, tile_bytes(b->dtype)),
                                  cb("out", pm * pn, tile_bytes(out.outputs.at(0).dtype))};
  if (bias) cbs.push_back(cb("bias", pn, tile_bytes(bias->dtype)));
  return cbs;
}

}  // namespace oomless::ops
