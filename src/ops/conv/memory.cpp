// TT-NN conv2d memory model; sources in memory.hpp. Function names follow the
// tt-metal functions they model; the code is ours.
#include "ops/conv/memory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "core/error.hpp"
#include "ops/cb_model.hpp"

namespace oomless::ops {

namespace {

constexpr int64_t kT = kTileDim;  // 32
// conv2d_op_program_factory_common.cpp: l1_scratchpad_CB_size.
constexpr int64_t kL1ScratchpadCb = 64;
// untilize_with_halo_program_factory.cpp: UNTILIZE_BLOCK_SIZE (sticks).
constexpr int64_t kUntilizeBlock = 32;

int64_t datum_bytes(DType t) {  // halo output: FLOAT32 stays, everything else BFLOAT16
  return t == DType::F32 ? 4 : 2;
}
DType halo_dtype(DType t) {
  return t == DType::F32 ? DType::F32 : DType::BF16;
}

// conv2d_utils.cpp divisor searches.
int64_t largest_divisor(int64_t num, int64_t start) {  // find_closest_largest_divisor
  int64_t d = start;
  while (num % d != 0) --d;
  return d;
}
int64_t divisor_with_padding(int64_t num, int64_t start) {  // ..._with_num_padding
  int64_t d = start, padded = round_up(num, d);
  while (padded - num >= padded / d) {
    --d;
    padded = round_up(num, d);
  }
  return d;
}
int64_t divisor_with_padding_mult(int64_t num, int64_t start, int64_t mult) {
  int64_t d = start, padded = round_up(num, d * mult);
  while (padded - num >= padded / d && d > 1) {
    --d;
    padded = round_up(num, d * mult);
  }
  return d;
}

// determine_parallel_config (ROW_MAJOR block orientation: transpose_shards is
// false by default) and determine_output_parallel_config.
struct Grid {
  int64_t cores = 1, nhw = 1, c = 1;
};
Grid parallel_config(ConvShard shard, const ConvCallShape& s, int64_t align, const ConvDevice& d,
                     int64_t act_block_h_override) {
  const int64_t out_nhw_ntiles = div_up(s.N * s.OH() * s.OW(), kT);
  const int64_t mult = act_block_h_override == 0 ? 1 : act_block_h_override / kT;
  const int64_t max_cores = d.grid_x * d.grid_y;
  Grid g;
  switch (shard) {
    case ConvShard::Height:
      g.nhw = divisor_with_padding_mult(out_nhw_ntiles, max_cores, mult);
      g.cores = g.nhw;
      break;
    case ConvShard::Block: {
      g.nhw = divisor_with_padding_mult(out_nhw_ntiles, d.grid_y, mult);
      g.c = divisor_with_padding(div_up(s.C, align), d.grid_x);  // channels padding enabled
      g.cores = g.nhw * g.c;
      break;
    }
    case ConvShard::Width:
      g.c = divisor_with_padding(div_up(s.C, kT), max_cores);
      g.cores = g.c;
      break;
  }
  return g;
}
Grid output_parallel_config(ConvShard shard, const Grid& in, const ConvCallShape& s,
                            const ConvDevice& d) {
  const int64_t out_c_ntiles = div_up(s.K, kT);
  Grid g = in;
  if (shard == ConvShard::Width) {
    g.c = divisor_with_padding(out_c_ntiles, d.grid_x * d.grid_y);
    g.cores = g.c;
  } else if (shard == ConvShard::Block) {
    g.c = divisor_with_padding(out_c_ntiles, d.grid_x);
    g.cores = g.nhw * g.c;
  }
  return g;
}

// determine_largest_subblock_size.
std::pair<int64_t, int64_t> largest_subblock(int64_t bh, int64_t bw, bool fp32_accum) {
  static constexpr std::pair<int64_t, int64_t> kSubblocks[] = {
      {2, 4}, {4, 2}, {1, 8}, {8, 1}, {1, 7}, {7, 1}, {2, 3}, {3, 2}, {1, 6}, {6, 1},
      {1, 5}, {5, 1}, {2, 2}, {1, 4}, {4, 1}, {1, 3}, {3, 1}, {1, 2}, {2, 1}, {1, 1}};
  for (auto [h, w] : kSubblocks) {
    if (fp32_accum && h * w > 4) continue;
    if (bh % h == 0 && bw % w == 0) {
      if (w != bw && h != 1) continue;
      return {h, w};
    }
  }
  fail("convolution", fmt::format("no output subblock for block {}x{}", bh, bw));
}

// ---- split reader (is_split_reader_viable): NoC and tilize cost tables ----
struct Rate {
  float threshold, min_rate, peak_rate;
};
float noc_rate(uint32_t bytes, Rate r, uint32_t min_bytes) {
  uint32_t eff = std::clamp<uint32_t>(bytes, min_bytes, static_cast<uint32_t>(r.threshold));
  float per_byte = (r.peak_rate - r.min_rate) / (r.threshold - static_cast<float>(min_bytes));
  return r.min_rate + per_byte * static_cast<float>(eff - min_bytes);
}
uint32_t tilize_cycles_per_tile(bool bh, DType in, DType out, bool fp32) {
  // [input f32?][output: f32, bf16, bfp8][fp32_dest_acc]
  static constexpr uint32_t kWh[2][3][2] = {{{92, 117}, {61, 68}, {40, 43}},
                                            {{107, 128}, {74, 74}, {74, 70}}};
  static constexpr uint32_t kBh[2][3][2] = {{{105, 128}, {72, 72}, {60, 60}},
                                            {{132, 132}, {132, 80}, {132, 77}}};
  int i = in == DType::F32 ? 1 : 0;
  int o = out == DType::F32 ? 0 : out == DType::BF16 ? 1 : 2;
  return (bh ? kBh : kWh)[i][o][fp32 ? 1 : 0];
}
bool split_reader_viable(ConvShard shard, int64_t abh, int64_t cin_padded, int64_t kw,
                         const ConvDevice& d, DType in, int64_t weights_block_ntiles,
                         int64_t weights_tile, int64_t dil_w, int64_t abw, bool fp32, DType out) {
  if (shard == ConvShard::Block) return true;
  const float clk = d.blackhole ? 1.35f : 1.0f;
  const Rate local = d.blackhole ? Rate{4096, 1.124f, 80.48f} : Rate{1024, 0.868f, 27.84f};
  const Rate dram = d.blackhole ? Rate{2048, 0.671f, 80.885f} : Rate{2048, 0.436f, 28.411f};
  const Rate mcast = d.blackhole ? Rate{65536, 0.182f, 57.677f} : Rate{65536, 0.318f, 25.345f};
  const auto min_bytes = static_cast<uint32_t>(d.l1_alignment);
  const uint32_t in_bytes = in == DType::F32 ? 4 : 2;
  const uint32_t unit = in_bytes * static_cast<uint32_t>(cin_padded * (dil_w == 1 ? kw : 1));
  const uint32_t act_bytes = in_bytes * static_cast<uint32_t>(abh * kT * cin_padded * kw);
  const float act = clk * static_cast<float>(act_bytes) / noc_rate(unit, local, min_bytes);
  const auto w_bytes = static_cast<uint32_t>(weights_tile * weights_block_ntiles);
  const float weights = clk * static_cast<float>(w_bytes) *
                        (1.0f / noc_rate(static_cast<uint32_t>(weights_tile), dram, min_bytes) +
                         1.0f / noc_rate(w_bytes, mcast, min_bytes));
  const auto tilize =
      static_cast<float>(tilize_cycles_per_tile(d.blackhole, halo_dtype(in), out, fp32) *
                         static_cast<uint32_t>(abw * abh));
  return act / 2 + std::max(weights, tilize) < std::max(act + tilize, weights);
}

// One CB of get_cb_info, and whether it aliases a buffer (globally allocated).
struct CbInfo {
  CircularBuffer cb;
  bool global = false;
};

struct BlockCfg {
  int64_t abh = 0, abw = 0, pc_h = 0, pc_w = 0;
};

// get_cb_info: every CB of the conv2d program, in creation order.
std::vector<CbInfo> cb_info(ConvShard shard, const BlockCfg& b, int64_t weight_rows,
                            int64_t weight_cols, int64_t kh, int64_t kw, int64_t dil_w,
                            const ConvCallShape& s, int64_t cin_padded, bool skip_act_cb,
                            const ConvConfig& cfg, const ConvDevice& d, bool* split_out = nullptr) {
  const DType conv_in = halo_dtype(s.in_dtype);
  const int64_t in_tile = tile_page_bytes(conv_in);
  const int64_t w_tile = tile_page_bytes(s.weights_dtype);
  const int64_t out_tile = tile_page_bytes(s.out_dtype);
  const bool fp32 = s.in_dtype == DType::F32 && s.weights_dtype == DType::F32;
  const int64_t num_blocks_act_h = b.pc_h / b.abh;
  const bool split = (shard == ConvShard::Height || shard == ConvShard::Block) && b.abh > 1 &&
                     split_reader_viable(shard, b.abh, cin_padded, kw, d, s.in_dtype,
                                         b.pc_w * b.abw, w_tile, dil_w, b.abw, fp32, s.out_dtype);
  if (split_out) *split_out = split;
  int64_t act_tiles = b.abh * b.abw, act_split_tiles = 0;
  if (split) {
    const int64_t last = b.abh / 2;
    act_tiles = (b.abh - last) * b.abw;
    act_split_tiles = last * b.abw;
  }
  (void)weight_cols;
  (void)kh;
  const int64_t weight_h_ntiles = weight_rows / kT;
  (void)weight_h_ntiles;
  std::vector<CbInfo> cbs;
  // Weights: one block of act_block_w x out-width tiles; height sharding with
  // several activation blocks keeps all kernel rows (x kernel_h).
  int64_t weight_tiles = b.pc_w * b.abw;
  if (shard == ConvShard::Height) {
    if (num_blocks_act_h > 1)
      weight_tiles *= kh;
    else if (cfg.enable_weights_double_buffer)
      weight_tiles *= 2;
  } else if (cfg.enable_weights_double_buffer) {
    weight_tiles *= 2;
  }
  cbs.push_back({{"weights", weight_tiles, w_tile}, false});
  // Matmul partials: the output's own buffer when packer L1 accumulation is off
  // (ttnn's default compute config) and the output is tiled.
  cbs.push_back({{"matmul_partials", b.pc_h * b.pc_w, out_tile}, cfg.output_tiled});
  const bool overlap_im2col = shard == ConvShard::Block && conv_in == s.out_dtype && !skip_act_cb;
  if (cfg.enable_act_double_buffer) {
    act_tiles *= 2;
    act_split_tiles *= 2;
  }
  const bool overlap_act = shard != ConvShard::Height && skip_act_cb;
  cbs.push_back({{"act",
                  overlap_act                  ? 0
                  : shard == ConvShard::Height ? act_tiles
                                               : act_tiles + act_split_tiles,
                  shard == ConvShard::Height ? in_tile : out_tile},
                 false});
  cbs.push_back({{"act_second_reader", overlap_im2col ? 0 : act_split_tiles, in_tile}, false});
  cbs.push_back({{"act_tilized", b.abh * b.abw, out_tile}, false});
  cbs.push_back({{"bias", s.has_bias ? b.pc_w : 0, w_tile}, false});
  int64_t row_major = shard == ConvShard::Width   ? b.abw * 2
                      : shard == ConvShard::Block ? act_tiles
                                                  : 0;
  cbs.push_back({{"act_row_major_bfloat16", overlap_im2col ? 0 : row_major, in_tile}, false});
  cbs.push_back({{"out", b.pc_h * b.pc_w, out_tile}, true});
  cbs.push_back({{"reader_indices", 1, b.pc_h * kT * 2}, !cfg.config_tensors_in_dram});
  cbs.push_back({{"l1_scratchpad", 1, kL1ScratchpadCb}, false});
  cbs.push_back({{"act_sharded", 0, 0}, true});  // the halo output itself
  return cbs;
}

std::vector<CircularBuffer> static_cbs(const std::vector<CbInfo>& all) {
  std::vector<CircularBuffer> out;
  for (const auto& c : all)
    if (!c.global && c.cb.pages > 0) out.push_back(c.cb);
  return out;
}

int64_t cb_sum(const std::vector<CircularBuffer>& cbs) {
  int64_t s = 0;
  for (const auto& c : cbs) s += c.bytes();
  return s;
}

// get_input_channels_alignment for an input that is not sharded yet.
int64_t base_alignment(ConvShard shard, ConvInputForm form, const ConvDevice& d) {
  if (shard != ConvShard::Width && (!form.tiled || form.sliced)) return d.l1_alignment / 2;
  return kT;
}
// ... and for a sharded ROW_MAJOR input, from its shard width.
int64_t sharded_alignment(int64_t shard_w) {
  if (shard_w % kT == 0) return kT;
  if (shard_w % 16 == 0) return 16;
  if (shard_w % 8 == 0) return 8;
  return kT;
}

struct Common {
  Grid in, out;
  int64_t cp = 0, kp = 0;
  BlockCfg b;
  int64_t out_shard_h = 0, out_shard_w = 0;
  int64_t sub_h = 1, sub_w = 1;
};

// get_conv_configs + determine_per_core_conv_block_config.
Common conv_configs(const ConvCallShape& s, ConvShard shard, const Grid& in, int64_t cp,
                    const ConvDevice& d, const ConvConfig& cfg) {
  Common c;
  c.in = in;
  c.out = output_parallel_config(shard, in, s, d);
  c.cp = cp;
  c.kp = round_up(s.K, c.out.c * kT);
  const int64_t nhw_out = s.N * s.OH() * s.OW();
  const int64_t out_nhw = shard == ConvShard::Width ? 1 : c.out.nhw;
  const int64_t nhw_padded = shard == ConvShard::Width ? nhw_out : round_up(nhw_out, out_nhw * kT);
  c.out_shard_h = nhw_padded / out_nhw;
  c.out_shard_w = c.kp / c.out.c;
  c.b.pc_h = div_up(c.out_shard_h, kT);
  c.b.pc_w = div_up(c.out_shard_w, kT);
  c.b.abh = c.b.pc_h;
  if (cfg.act_block_h_override > 0) {
    const int64_t ov = cfg.act_block_h_override / kT, padded = c.out_shard_h / kT;
    c.b.abh = padded % ov == 0 ? ov : largest_divisor(padded, ov);
  }
  int64_t abw = 0;
  switch (shard) {
    case ConvShard::Height:
      abw = round_up(cp * s.kw, kT);
      break;
    case ConvShard::Block:
      abw = round_up(cp / in.c * s.kw, kT);
      break;
    case ConvShard::Width:
      abw = cp * s.kh * s.kw / in.cores;
      break;
  }
  c.b.abw = abw / kT;
  const bool fp32 = s.in_dtype == DType::F32 && s.weights_dtype == DType::F32;
  std::tie(c.sub_h, c.sub_w) = largest_subblock(c.b.abh, c.b.pc_w, fp32);
  return c;
}

}  // namespace

std::string_view conv_shard_name(ConvShard s) {
  switch (s) {
    case ConvShard::Height:
      return "height sharded";
    case ConvShard::Block:
      return "block sharded";
    case ConvShard::Width:
      return "width sharded";
  }
  return "?";
}

int64_t ConvCallShape::OH() const {
  return (H + pt + pb - dh * (kh - 1) - 1) / sh + 1;
}
int64_t ConvCallShape::OW() const {
  return (W + pl + pr - dw * (kw - 1) - 1) / sw + 1;
}

ConvDevice conv_device(const device::Profile& p) {
  return {p.grid_x, p.grid_y, p.l1_alignment, p.arch == "blackhole"};
}

int64_t halo_sticks_per_core(const ConvCallShape& s, int64_t cores_nhw) {
  const int64_t oh = s.OH(), ow = s.OW();
  const int64_t nhw = s.N * oh * ow;
  if (nhw <= 0) return 0;
  const int64_t ph = s.H + s.pt + s.pb, pw = s.W + s.pl + s.pr;
  const int64_t shard = round_up(nhw, cores_nhw * kT) / cores_nhw;
  // Top-left input stick (in the padded image) of output stick o.
  auto trace = [&](int64_t o) {
    const int64_t b = o / (oh * ow), h = o / ow % oh, w = o % ow;
    return b * ph * pw + h * s.sh * pw + w * s.sw;
  };
  const int64_t halo = (s.dh * (s.kh - 1)) * pw + s.dw * (s.kw - 1);
  int64_t best = 0, start = 0;
  for (int64_t core = 0; core < cores_nhw; ++core) {
    const int64_t end = std::min(start + shard, nhw) - 1;
    int64_t in_start = trace(std::min(start, nhw - 1));
    int64_t in_end = trace(end) + halo;
    if (in_start == 0 && start != 0) {  // sliding_window's empty-core rule
      in_start = trace(end) + 1;
      in_end = in_start - 1;
    }
    best = std::max(best, in_end - in_start + 1);
    start = end + 1;
  }
  return best;
}

ConvPlanL1 plan_conv_l1(const ConvCallShape& s, ConvShard shard, ConvInputForm form,
                        const ConvDevice& d, const ConvConfig& cfg) {
  ConvPlanL1 p;
  p.shard = shard;
  const int64_t par_align = base_alignment(shard, form, d);
  const Grid in = parallel_config(shard, s, par_align, d, cfg.act_block_h_override);
  // determine_input_memory_config: rows padded to cores x 32 (width sharded
  // row-major: x 1), channels to cores x alignment.
  const int64_t rows_align = shard == ConvShard::Width && !form.tiled ? 1 : kT;
  const int64_t in_nhw = shard == ConvShard::Width ? 1 : in.nhw;
  p.input_shard_h = round_up(s.N * s.H * s.W, in_nhw * rows_align) / in_nhw;
  p.input_shard_w = round_up(s.C, in.c * par_align) / in.c;
  p.input_tiled = form.tiled && !form.sliced;
  // conv2d_L1: channels alignment of the sharded input it now holds.
  p.channels_alignment =
      shard != ConvShard::Width && (!p.input_tiled) ? sharded_alignment(p.input_shard_w) : kT;
  const int64_t cp = round_up(s.C, in.c * p.channels_alignment);
  Common c = conv_configs(s, shard, in, cp, d, cfg);
  p.in_cores = in.cores;
  p.out_cores = c.out.cores;
  p.cores_nhw = in_nhw;
  p.cores_c_in = in.c;
  p.cores_c_out = c.out.c;
  p.in_channels_padded = cp;
  p.out_channels_padded = c.kp;
  p.per_core_out_h_ntiles = c.b.pc_h;
  p.per_core_out_w_ntiles = c.b.pc_w;
  p.act_block_h_ntiles = c.b.abh;
  p.act_block_w_ntiles = c.b.abw;
  p.out_subblock_h_ntiles = c.sub_h;
  p.out_subblock_w_ntiles = c.sub_w;
  p.fp32_dest_acc = s.in_dtype == DType::F32 && s.weights_dtype == DType::F32;
  // prepare_conv2d_weights: height sharding pads each kernel row's kw x Cin to
  // act_block_w (special padding); block sharding does so per channel block;
  // width sharding tiles kh x kw x Cin as one matrix.
  const int64_t abw = c.b.abw * kT;
  p.weight_rows = shard == ConvShard::Height  ? s.kh * abw
                  : shard == ConvShard::Block ? s.kh * in.c * abw
                                              : round_up(cp * s.kh * s.kw, abw);
  p.weight_cols = round_up(c.kp, c.sub_w * kT);
  p.bias_cols = s.has_bias ? round_up(c.kp, c.sub_w * kT) : 0;
  // skip_activation_mcast (conv_skip_mcast): one core per activation block.
  const bool skip_act =
      shard == ConvShard::Height ? c.out.nhw * c.out.c == 1 : c.out.c == 1 && in.c == 1;
  auto all = cb_info(shard, c.b, p.weight_rows, p.weight_cols, s.kh, s.kw, s.dw, s, p.input_shard_w,
                     skip_act, cfg, d, &p.split_reader);
  p.conv_cbs = static_cbs(all);
  p.output_shard_tiles = c.b.pc_h * c.b.pc_w;
  p.reader_indices_bytes = c.b.pc_h * kT * 2;
  p.halo_sticks_per_core = halo_sticks_per_core(s, in_nhw);
  p.halo_stick_bytes = p.input_shard_w * datum_bytes(s.in_dtype);
  return p;
}

ConvL1Estimate estimate_conv_l1(const ConvCallShape& s, ConvShard shard, ConvInputForm form,
                                const ConvDevice& d, const ConvConfig& cfg) {
  // calculate_L1_usage_for_conv_op: weights sized with the input layout's
  // alignment as if not sliced; the halo input memory config (a slice's, when
  // sliced) fixes the grid and the halo input shard.
  const int64_t align = base_alignment(shard, {form.tiled, false}, d);
  const int64_t halo_align = base_alignment(shard, form, d);
  const Grid in = parallel_config(shard, s, halo_align, d, cfg.act_block_h_override);
  const int64_t cp = round_up(s.C, in.c * align);
  Common c = conv_configs(s, shard, in, cp, d, cfg);
  const int64_t weight_rows = round_up(s.C, align) * s.kh * s.kw;
  auto all =
      cb_info(shard, c.b, weight_rows, round_up(s.K, kT), s.kh, s.kw, s.dw, s, cp, false, cfg, d);
  ConvL1Estimate e;
  e.core_count = std::max(in.cores, c.out.cores);
  e.cb_size = cb_sum(static_cbs(all));
  e.tensor_size = c.b.pc_h * c.b.pc_w * tile_page_bytes(s.out_dtype);
  const int64_t in_nhw = shard == ConvShard::Width ? 1 : in.nhw;
  const int64_t rows_align = shard == ConvShard::Width && !form.tiled ? 1 : kT;
  const int64_t shard_h = round_up(s.N * s.H * s.W, in_nhw * rows_align) / in_nhw;
  const int64_t shard_w = round_up(s.C, in.c * halo_align) / in.c;
  const int64_t datum = datum_bytes(s.in_dtype);
  e.halo_input_size = shard_h * shard_w * datum / (s.in_dtype == DType::BFP8_B ? 2 : 1);
  e.halo_output_size = halo_sticks_per_core(s, in_nhw) * shard_w * datum;
  return e;
}

ConvShard auto_shard(const ConvCallShape& s, ConvInputForm form, const ConvDevice& d,
                     const ConvConfig& cfg) {
  const ConvL1Estimate h = estimate_conv_l1(s, ConvShard::Height, form, d, cfg);
  const ConvL1Estimate b = estimate_conv_l1(s, ConvShard::Block, form, d, cfg);
  const ConvL1Estimate w = estimate_conv_l1(s, ConvShard::Width, form, d, cfg);
  ConvShard win = ConvShard::Height;
  int64_t best = h.total();
  if (b.total() < best && b.core_count >= d.grid_x) {
    win = ConvShard::Block;
    best = b.total();
  }
  if (w.total() < best) win = ConvShard::Width;
  return win;
}

// ---- DRAM slicing ----

namespace {

// Conv2dSliceAttr::get_input_slice_and_padding for output [start, end) along dim.
ConvCallShape slice_call(const ConvCallShape& whole, SliceDim dim, int64_t start, int64_t end,
                         bool single, bool out_tiled) {
  ConvCallShape s = whole;
  const bool rows = dim == SliceDim::Height;
  const int64_t st = rows ? whole.sh : whole.sw, k = rows ? whole.kh : whole.kw;
  const int64_t dil = rows ? whole.dh : whole.dw;
  const int64_t p0 = rows ? whole.pt : whole.pl, p1 = rows ? whole.pb : whole.pr;
  const int64_t extent = rows ? whole.H : whole.W, out_extent = rows ? whole.OH() : whole.OW();
  int64_t in0 = start * st - p0;
  int64_t in1 = (end - 1) * st - p0 + (k - 1) * (dil - 1) + k;
  int64_t pad0 = std::max<int64_t>(0, -in0), pad1 = std::max<int64_t>(0, in1 - extent);
  in0 = std::max<int64_t>(0, in0);
  in1 = std::min(extent, in1);
  if (start == 0) {
    pad0 = p0;
    in0 = 0;
  }
  if (end == out_extent) {
    pad1 = p1;
    in1 = extent;
  }
  // Tiled output: a width slice's output width rounds up to a tile with
  // extra right padding (height slices keep their rows).
  const int64_t out_w = rows ? whole.OW() : end - start;
  if (out_tiled && !single && out_w % kT != 0) {
    if (rows)
      s.pr += (kT - out_w % kT) * whole.sw;
    else
      pad1 += (kT - out_w % kT) * whole.sw;
  }
  if (rows) {
    s.H = in1 - in0;
    s.pt = pad0;
    s.pb = pad1;
  } else {
    s.W = in1 - in0;
    s.pl = pad0;
    s.pr = pad1;
  }
  return s;
}

SliceDim best_guess_dim(int64_t h, int64_t w, bool out_tiled) {
  if (!out_tiled) return h > w * 3 ? SliceDim::Height : SliceDim::Width;
  if (w < 200) return SliceDim::Height;
  return h > w ? SliceDim::Height : SliceDim::Width;
}

}  // namespace

ConvSlicing conv_slices(const ConvCallShape& whole, SliceDim dim, int64_t num_slices,
                        bool input_tiled, const ConvDevice& d, const ConvConfig& cfg) {
  ConvSlicing r;
  r.dim = dim;
  r.num_slices = num_slices;
  const int64_t round = cfg.output_tiled && dim == SliceDim::Width ? kT : 1;
  const int64_t out_dim = dim == SliceDim::Height ? whole.OH() : whole.OW();
  r.max_slices = cfg.output_tiled ? div_up(out_dim, round) : out_dim;
  const int64_t units = div_up(out_dim, round);
  const int64_t min_size = units / num_slices, rem = units % num_slices;
  const int64_t in_extent = dim == SliceDim::Height ? whole.H : whole.W;
  // Slices come in a few shapes (two sizes, edge padding): estimate each once.
  struct Usage {
    ConvCallShape call;
    bool single;
    int64_t bytes;
  };
  std::vector<Usage> usage;
  int64_t start = 0;
  for (int64_t i = 0; i < num_slices && start < out_dim; ++i) {
    const int64_t size = round * (min_size + (i < rem ? 1 : 0));
    const int64_t end = std::min(out_dim, start + size);
    if (end == start) continue;
    ConvSlice sl;
    sl.out_start = start;
    sl.out_end = end;
    const ConvCallShape probe = slice_call(whole, dim, start, end, false, cfg.output_tiled);
    const bool single = (dim == SliceDim::Height ? probe.H : probe.W) == in_extent;
    sl.call = slice_call(whole, dim, start, end, single, cfg.output_tiled);
    // No input rows (cols): op_slicing skips the slice without moving on.
    if ((dim == SliceDim::Height ? sl.call.H : sl.call.W) <= 0) continue;
    r.slices.push_back(sl);
    // get_L1_usage: the slice's own auto shard, then max(halo in + halo out, total).
    auto seen = std::find_if(usage.begin(), usage.end(), [&](const Usage& u) {
      return u.call == sl.call && u.single == single;
    });
    if (seen == usage.end()) {
      const ConvShard shard = auto_shard(sl.call, {input_tiled, false}, d, cfg);
      const ConvL1Estimate e = estimate_conv_l1(sl.call, shard, {input_tiled, !single}, d, cfg);
      usage.push_back(
          {sl.call, single, std::max(e.halo_input_size + e.halo_output_size, e.total())});
      seen = usage.end() - 1;
    }
    r.l1_usage = std::max(r.l1_usage, seen->bytes);
    start += size;
  }
  return r;
}

ConvAutoSlice conv_auto_slices(const ConvCallShape& whole, bool input_tiled,
                               int64_t l1_free_per_bank, const ConvDevice& d,
                               const ConvConfig& cfg) {
  ConvAutoSlice a;
  SliceDim dim = best_guess_dim(whole.H, whole.W, cfg.output_tiled);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int64_t out_dim = dim == SliceDim::Height ? whole.OH() : whole.OW();
    const int64_t round = cfg.output_tiled && dim == SliceDim::Width ? kT : 1;
    const int64_t max = cfg.output_tiled ? div_up(out_dim, round) : out_dim;
    for (int64_t n = 1; n <= max; ++n) {
      ConvSlicing s = conv_slices(whole, dim, n, input_tiled, d, cfg);
      if (l1_free_per_bank >= s.l1_usage) {
        a.slicing = std::move(s);
        return a;
      }
    }
    if (attempt == 1) {
      a.fatal = fmt::format(
          "DRAM Auto slice could not find valid slice configuration. Tried up to {} slices for "
          "{}-slicing on output dimension {}. Available L1: {} bytes. Operation requires more "
          "memory than available even with maximum slicing.",
          max, dim == SliceDim::Height ? "height" : "width", out_dim, l1_free_per_bank);
      return a;
    }
    dim = dim == SliceDim::Height ? SliceDim::Width : SliceDim::Height;
  }
  return a;
}

// ---- the op table's hooks ----

ConvCallShape conv_call_shape(const ConvGeom& g, const std::vector<TensorSpec>& in) {
  ConvCallShape s;
  s.N = g.N;
  s.H = g.H;
  s.W = g.W;
  s.C = g.C;
  s.K = g.K;
  s.kh = g.kh;
  s.kw = g.kw;
  s.sh = g.sh;
  s.sw = g.sw;
  s.dh = g.dh;
  s.dw = g.dw;
  s.pl = s.pr = g.pw;
  // A row slice (rows_of): rows [in_row0, in_row0 + H) of a plane of full_h;
  // its padding is what the window reaches past them.
  const int64_t first = g.row0 * g.sh - g.ph;
  const int64_t last = (g.row0 + g.OH - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1;
  s.pt = std::max<int64_t>(0, g.in_row0 - first);
  s.pb = std::max<int64_t>(0, last - (g.in_row0 + g.H));
  s.groups = g.groups;
  s.has_bias = g.has_bias;
  s.in_dtype = in.at(0).dtype;
  s.out_dtype = in.at(0).dtype;
  s.weights_dtype = in.at(1).dtype;
  return s;
}

std::vector<InputPlacement> conv_inputs(const OpDesc& op, const std::vector<TensorSpec>& in,
                                        const Args& args) {
  const ConvGeom g = conv_geometry(op.name, in, args);
  std::vector<InputPlacement> p(in.size());
  p[0].device_shape = {1, 1, g.N * g.H * g.W, g.C};            // NHWC, flattened as TT-NN holds it
  for (size_t i = 1; i < in.size(); ++i) p[i].on_host = true;  // prepared by conv2d itself
  return p;
}

namespace {

using device::BufferType;
using device::MemoryLayout;

MemoryLayout mem_layout(ConvShard s) {
  return s == ConvShard::Height  ? MemoryLayout::HeightSharded
         : s == ConvShard::Block ? MemoryLayout::BlockSharded
                                 : MemoryLayout::WidthSharded;
}

MemStep alloc(std::string name, BufferType type, MemoryLayout layout, int64_t pages,
              int64_t page_size, int64_t shard_pages, int64_t cores, Shape shape) {
  MemStep m;
  m.kind = MemStep::Kind::Allocate;
  m.name = std::move(name);
  m.type = type;
  m.layout = layout;
  m.pages = pages;
  m.page_size = page_size;
  m.shard_pages = shard_pages;
  m.cores = cores;
  m.shape = std::move(shape);
  return m;
}
MemStep free_step(std::string name) {
  MemStep m;
  m.kind = MemStep::Kind::Free;
  m.name = std::move(name);
  return m;
}
MemStep program(std::string name, std::vector<CircularBuffer> cbs) {
  MemStep m;
  m.kind = MemStep::Kind::Program;
  m.name = std::move(name);
  m.cbs = std::move(cbs);
  return m;
}

// Interleaved TILE tensor of a device shape.
MemStep tile_tensor(std::string name, BufferType type, const Shape& shape, DType t) {
  PageSpec ps = page_spec(shape, t, Layout::Tile);
  return alloc(std::move(name), type, MemoryLayout::Interleaved, ps.num_pages, ps.page_size, 0, 0,
               shape);
}

// Halo config tensors (padding and gather configs, two of each, one per data
// mover), uint16 runs per core. Their exact contents (runs split at 32-stick
// untilize blocks and at source shards) are not modelled: each is sized as
// half the runs of the core's input range, counted per image row: one pad
// run (2 uint16) and one gather transfer (3 uint16) per row, a gather transfer
// per 32-stick block, a route header (3) per source core, plus a terminator.
int64_t halo_config_bytes(const ConvCallShape& s, const ConvPlanL1& p, bool gather) {
  const int64_t pw = s.W + s.pl + s.pr;
  const int64_t rows = p.halo_sticks_per_core / std::max<int64_t>(pw, 1) + 2;
  const int64_t runs = gather ? rows + p.halo_sticks_per_core / kUntilizeBlock + 2 : rows;
  const int64_t per = gather ? 3 : 2;
  return (div_up(runs, 2) * per + per + (gather ? 3 : 0)) * 2;
}

struct ScriptBuilder {
  MemScript m;
  const ConvDevice& d;
  ConvConfig cfg;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>, int> configs;
  bool weights_placed = false;

  // One conv2d_L1 on an input `input_name` that is interleaved (reshard first)
  // or already sharded (a DRAM slice). Leaves the conv output `out_name` live.
  void conv_l1(const ConvCallShape& s, ConvShard shard, ConvInputForm form, const std::string& tag,
               const std::string& out_name, bool reshard, const std::string& sliced_input) {
    const ConvPlanL1 p = plan_conv_l1(s, shard, form, d, cfg);
    const std::string sh(conv_shard_name(shard));
    m.notes.push_back(fmt::format(
        "{}conv2d_L1 [{}x{}x{}x{} -> {}x{}x{}x{}]: {} on {} cores (nhw {}, channels {} -> {}), "
        "input channels padded {} (alignment {}), output channels padded {}, per core output "
        "{}x{} tiles, act_block_h {} tiles, act_block_w {} tiles, subblock {}x{}, split reader "
        "{}, halo {} sticks of {} B per core",
        tag, s.N, s.H, s.W, s.C, s.N, s.OH(), s.OW(), s.K, sh, p.in_cores, p.cores_nhw,
        p.cores_c_in, p.cores_c_out, p.in_channels_padded, p.channels_alignment,
        p.out_channels_padded, p.per_core_out_h_ntiles, p.per_core_out_w_ntiles,
        p.act_block_h_ntiles, p.act_block_w_ntiles, p.out_subblock_h_ntiles,
        p.out_subblock_w_ntiles, p.split_reader ? "on" : "off", p.halo_sticks_per_core,
        p.halo_stick_bytes));
    const DType hd = halo_dtype(s.in_dtype);
    const MemoryLayout ml = mem_layout(shard);
    std::string conv_in = sliced_input;
    if (reshard) {
      conv_in = tag + "conv input (" + sh + ")";
      if (p.input_tiled) {
        const int64_t per = p.input_shard_h / kT * div_up(p.input_shard_w, kT);
        m.steps.push_back(alloc(
            conv_in, BufferType::L1, ml, per * p.in_cores, tile_page_bytes(s.in_dtype), per,
            p.in_cores, {1, 1, p.input_shard_h * p.cores_nhw, p.input_shard_w * p.cores_c_in}));
      } else {
        m.steps.push_back(alloc(
            conv_in, BufferType::L1, ml, p.input_shard_h * p.in_cores,
            p.input_shard_w * static_cast<int64_t>(element_size(hd)), p.input_shard_h, p.in_cores,
            {1, 1, p.input_shard_h * p.cores_nhw, p.input_shard_w * p.cores_c_in}));
      }
      m.steps.push_back(program(tag + "interleaved_to_sharded", {}));
    }
    if (!weights_placed) {
      weights_placed = true;
      MemStep w = tile_tensor("weights (prepared, DRAM)", BufferType::DRAM,
                              {1, 1, p.weight_rows, p.weight_cols}, s.weights_dtype);
      w.persists = true;
      m.steps.push_back(w);
      if (s.has_bias) {
        MemStep b = tile_tensor("bias (prepared, DRAM)", BufferType::DRAM, {1, 1, kT, p.bias_cols},
                                s.weights_dtype);
        b.persists = true;
        m.steps.push_back(b);
      }
    }
    const std::string halo = tag + "halo output (" + sh + ")";
    m.steps.push_back(
        alloc(halo, BufferType::L1, ml, p.halo_sticks_per_core * p.in_cores, p.halo_stick_bytes,
              p.halo_sticks_per_core, p.in_cores,
              {1, 1, p.halo_sticks_per_core * p.cores_nhw, p.input_shard_w * p.cores_c_in}));
    // Config tensors live in L1_SMALL, cached per sliding-window config.
    auto key = std::make_tuple(s.H, s.W, s.pt, s.pb, s.pl, s.pr, static_cast<int>(shard));
    const bool new_config = configs.emplace(key, static_cast<int>(configs.size())).second;
    const std::string ctag = fmt::format("{}", configs[key]);
    std::vector<CircularBuffer> halo_cbs;
    const int64_t aligned_stick = round_up(p.halo_stick_bytes, d.l1_alignment);
    halo_cbs.push_back({"pad0", 1, aligned_stick});
    halo_cbs.push_back({"pad1", 1, aligned_stick});
    if (p.input_tiled) {
      const int64_t ntiles = div_up(p.input_shard_w, kT);
      halo_cbs.push_back({"untilize_out0", 2 * ntiles, tile_page_bytes(hd)});
      halo_cbs.push_back({"untilize_out1", 2 * ntiles, tile_page_bytes(hd)});
    }
    for (const char* cfg_name :
         {"padding config 0", "padding config 1", "gather config 0", "gather config 1"}) {
      const bool gather = cfg_name[0] == 'g';
      const int64_t bytes = halo_config_bytes(s, p, gather);
      if (cfg.config_tensors_in_dram) {
        halo_cbs.push_back({std::string(cfg_name), 1, bytes});
        continue;
      }
      if (!new_config) continue;
      MemStep c = alloc(fmt::format("halo {} #{} (L1_SMALL)", cfg_name, ctag), BufferType::L1_SMALL,
                        MemoryLayout::HeightSharded, p.in_cores, bytes, 1, p.in_cores,
                        {p.in_cores, bytes / 2});
      c.persists = true;
      m.steps.push_back(c);
    }
    m.steps.push_back(program(tag + "halo", halo_cbs));
    if (reshard || cfg.deallocate_activation) m.steps.push_back(free_step(conv_in));
    if (cfg.reallocate_halo_output) {  // ttnn::move: frees, then allocates again
      MemStep again;
      for (auto it = m.steps.rbegin(); it != m.steps.rend(); ++it)
        if (it->kind == MemStep::Kind::Allocate && it->name == halo) {
          again = *it;
          break;
        }
      m.steps.push_back(free_step(halo));
      m.steps.push_back(again);
    }
    const int64_t out_tile = tile_page_bytes(s.out_dtype);
    m.steps.push_back(
        alloc(out_name, BufferType::L1, ml, p.output_shard_tiles * p.out_cores, out_tile,
              p.output_shard_tiles, p.out_cores,
              {1, 1, p.per_core_out_h_ntiles * kT * p.cores_nhw, p.out_channels_padded}));
    if (new_config && !cfg.config_tensors_in_dram) {
      MemStep idx =
          alloc(fmt::format("conv reader indices #{} (L1_SMALL)", ctag), BufferType::L1_SMALL,
                MemoryLayout::HeightSharded, p.in_cores, p.reader_indices_bytes, 1, p.in_cores,
                {p.in_cores, p.reader_indices_bytes / 2});
      idx.persists = true;
      m.steps.push_back(idx);
    }
    std::vector<CircularBuffer> cbs = p.conv_cbs;
    if (cfg.config_tensors_in_dram) cbs.push_back({"reader_indices", 1, p.reader_indices_bytes});
    m.steps.push_back(program(tag + "conv2d", cbs));
    m.steps.push_back(free_step(halo));
  }
};

}  // namespace

MemScript conv_steps(const OpDesc& op, const std::vector<TensorSpec>& in, const OutputSpec& out,
                     const Args& args, const StepContext& ctx) {
  const ConvGeom g = conv_geometry(op.name, in, args);
  const ConvCallShape s = conv_call_shape(g, in);
  const ConvDevice d = conv_device(ctx.device->profile());
  ScriptBuilder b{{}, d, {}, {}, false};
  MemScript& m = b.m;
  const bool tiled = ctx.layout == Layout::Tile;
  const DType od = out.outputs.at(0).dtype;
  m.not_modelled.push_back(
      "interleaved_to_sharded, padded_slice, slice_write and sharded_to_interleaved programs: "
      "their buffers are modelled, their CBs are not");
  m.not_modelled.push_back(
      "halo padding/gather config tensor sizes (L1_SMALL) are estimates (runs per image row); "
      "the conv reader-indices tensor is sized as the CB that aliases it");
  m.not_modelled.push_back("in-place halo (tt-metal 2026) and activation reuse: off");
  const bool mm_conv = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && g.ph == 0 && g.pw == 0 &&
                       s.dh == 1 && s.dw == 1;
  if (mm_conv)
    m.not_modelled.push_back(
        "a 1x1 stride-1 unpadded conv runs as ttnn.linear in TT-NN (no halo); modelled here as "
        "the sliding-window conv");
  if (s.kh == s.sh && s.kw == s.sw && s.sh > 1 && s.dh == 1 && s.dw == 1)
    m.not_modelled.push_back(
        "kernel-stride folding (stride == kernel, input in DRAM): modelled unfolded");
  if (s.groups > 1)
    m.notes.push_back(fmt::format(
        "groups={}: TT-NN expands the weights to a dense [K, C, kh, kw] block-diagonal matrix",
        s.groups));
  if (s.in_dtype == DType::BFP8_B && !tiled)
    fail(op.name, "bfloat8_b requires TILE layout; it has no ROW_MAJOR pages");
  if (numel(out.outputs.at(0).shape) == 0 || s.N * s.H * s.W * s.C == 0) {
    // Nothing to compute: TT-NN returns the (empty) output without a program.
    MemStep e =
        tile_tensor("output (empty)", ctx.out_memory, {1, 1, s.N * s.OH() * s.OW(), s.K}, od);
    e.output = 0;
    m.steps = {e};
    return m;
  }

  if (ctx.in_memory != BufferType::DRAM) {
    // conv2d_L1: input already in L1 (interleaved): auto shard, reshard, halo, conv.
    const ConvShard shard = auto_shard(s, {tiled, false}, d, b.cfg);
    m.notes.push_back(
        fmt::format("execution path L1 (input in L1, no slice config): auto shard picked {}",
                    conv_shard_name(shard)));
    const bool to_dram = ctx.out_memory == BufferType::DRAM;
    const std::string conv_out =
        std::string("conv output (") + std::string(conv_shard_name(shard)) + ")";
    b.conv_l1(s, shard, {tiled, false}, "", conv_out, true, "");
    if (!to_dram) {
      for (auto& st : m.steps)
        if (st.kind == MemStep::Kind::Allocate && st.name == conv_out) st.output = 0;
      return m;
    }
    MemStep o = tile_tensor("output (DRAM interleaved)", BufferType::DRAM,
                            {1, 1, s.N * s.OH() * s.OW(), s.K}, od);
    o.output = 0;
    m.steps.push_back(o);
    m.steps.push_back(program("sharded_to_interleaved", {}));
    m.steps.push_back(free_step(conv_out));
    return m;
  }

  // conv2d_DRAM: output in DRAM first, then slices (or one L1_FULL run).
  m.notes.push_back("execution path DRAM (input in DRAM): conv2d_DRAM with op slicing");
  MemStep o =
      tile_tensor("output (DRAM interleaved)", BufferType::DRAM, {s.N, s.OH(), s.OW(), s.K}, od);
  o.output = 0;
  m.steps.push_back(o);
  int64_t n = args.is_none("dram_slices") ? 0 : args.get_int("dram_slices");
  ConvSlicing slicing;
  const int64_t free_l1 = ctx.device->stats(BufferType::L1).free;
  if (n <= 0) {
    ConvAutoSlice a = conv_auto_slices(s, tiled, free_l1, d, b.cfg);
    if (!a.fatal.empty()) {
      m.fatal = a.fatal;
      return m;
    }
    slicing = std::move(a.slicing);
    m.notes.push_back(fmt::format(
        "DRAM auto slice (num_slices=0): {} {}-slices; TT-NN's estimate {} B per core <= total "
        "free L1 {} B per bank (the largest free block is {} B)",
        slicing.num_slices, slicing.dim == SliceDim::Height ? "height" : "width", slicing.l1_usage,
        free_l1, ctx.device->stats(BufferType::L1).largest_free_block));
  } else {
    const SliceDim dim = best_guess_dim(s.H, s.W, true);
    slicing = conv_slices(s, dim, n, tiled, d, b.cfg);
    if (n > slicing.max_slices) {
      m.fatal = fmt::format(
          "Number of slices ({}) exceeds the maximum allowed ({}) for the given output dimension "
          "and alignment.",
          n, slicing.max_slices);
      return m;
    }
    m.notes.push_back(
        fmt::format("DRAM slicing with num_slices={} along {} (TT-NN's estimate {} B per core)", n,
                    dim == SliceDim::Height ? "height" : "width", slicing.l1_usage));
  }
  if (slicing.num_slices == 1) {
    // Converted to L1_FULL: the DRAM output is dropped, conv2d_L1 runs on the
    // whole DRAM input, and its output goes back to DRAM interleaved.
    m.steps.push_back(free_step("output (DRAM interleaved)"));
    const ConvShard shard = auto_shard(s, {tiled, false}, d, b.cfg);
    b.conv_l1(s, shard, {tiled, false}, "", "conv output", true, "");
    MemStep o2 = tile_tensor("output (DRAM interleaved)", BufferType::DRAM,
                             {1, 1, s.N * s.OH() * s.OW(), s.K}, od);
    o2.output = 0;
    m.steps.push_back(o2);
    m.steps.push_back(program("sharded_to_interleaved", {}));
    m.steps.push_back(free_step("conv output"));
    return m;
  }
  b.cfg.deallocate_activation = true;  // run_L1_op's conv_config
  m.not_modelled.push_back(
      "padded_slice's output layout is taken as ROW_MAJOR (channels aligned to 8)");
  for (size_t i = 0; i < slicing.slices.size(); ++i) {
    const ConvSlice& sl = slicing.slices[i];
    const ConvShard shard = auto_shard(sl.call, {tiled, false}, d, b.cfg);
    const std::string tag = fmt::format("slice {}/{} ", i + 1, slicing.slices.size());
    // padded_slice: the slice's rows/cols (with halo) from DRAM into L1 shards.
    const ConvPlanL1 p = plan_conv_l1(sl.call, shard, {false, true}, d, b.cfg);
    const std::string in_name = tag + "input (" + std::string(conv_shard_name(shard)) + ")";
    m.steps.push_back(
        alloc(in_name, BufferType::L1, mem_layout(shard), p.input_shard_h * p.in_cores,
              p.input_shard_w * static_cast<int64_t>(element_size(halo_dtype(s.in_dtype))),
              p.input_shard_h, p.in_cores,
              {1, 1, p.input_shard_h * p.cores_nhw, p.input_shard_w * p.cores_c_in}));
    m.steps.push_back(program(tag + "padded_slice", {}));
    const std::string out_name = tag + "conv output";
    b.conv_l1(sl.call, shard, {false, true}, tag, out_name, false, in_name);
    m.steps.push_back(program(tag + "slice_write", {}));
    m.steps.push_back(free_step(out_name));
  }
  return m;
}

// The conv program's CBs for callers without a script (streaming, tests):
// the default L1 path's conv2d program.
std::vector<CircularBuffer> cb_conv(const OpDesc& op, CbArgs in, const OutputSpec& out,
                                    const Args& args, const DeviceContext& ctx) {
  for (const auto& o : out.outputs)
    if (numel(o.shape) == 0) return {};
  const ConvGeom g = conv_geometry(op.name, in, args);
  const ConvCallShape s = conv_call_shape(g, in);
  const ConvDevice d = ctx.profile ? conv_device(*ctx.profile) : ConvDevice{};
  const bool tiled = ctx.layout == Layout::Tile;
  return plan_conv_l1(s, auto_shard(s, {tiled, false}, d), {tiled, false}, d).conv_cbs;
}

}  // namespace oomless::ops
