// TT-NN conv2d memory: hand-computed shards and CBs (the arithmetic follows
// tt-metal's conv2d_utils.cpp and conv2d_op_program_factory_common.cpp
// get_cb_info, named at each step), L1_SMALL, DRAM slicing and its automatic
// count, and the fragmentation case where that count OOMs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ops/conv/memory.hpp"
#include "plan/planner.hpp"
#include "plan/precheck.hpp"

using namespace oomless;
using device::BufferType;

namespace {

plan::CallSpec conv(std::vector<Shape> shapes, std::vector<std::string> args,
                    const std::string& mem, DType dtype = DType::BF16) {
  plan::CallSpec c;
  c.op = &ops::find_op("convolution");
  for (auto& s : shapes) c.inputs.push_back({s, dtype});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  c.dtype = dtype;
  c.layout = Layout::Tile;
  c.in_memory = device::parse_buffer_type(mem);
  return c;
}

const device::Profile& wh() {
  static device::Profile p = device::load_profile("wormhole_b0");
  return p;
}
const device::Profile& wh_small() {
  static device::Profile p = device::load_profile("wormhole_b0_l1small");
  return p;
}

const plan::ProgramRecord* program(const plan::QueryResult& r, const std::string& name) {
  for (const auto& p : r.programs)
    if (p.name == name) return &p;
  return nullptr;
}
const plan::AllocationRecord* alloc(const plan::QueryResult& r, const std::string& what) {
  for (const auto& a : r.allocations)
    if (a.what == what) return &a;
  return nullptr;
}

}  // namespace

// [1,32,64,64] x [64,32,3,3], padding 1, bf16, TILE, input in L1.
TEST(ConvMemory, HeightShardedCbsByHand) {
  auto r = plan::precheck(conv({{1, 32, 64, 64}, {64, 32, 3, 3}}, {"padding=1"}, "l1"), wh_small());
  ASSERT_TRUE(r.fits) << r.error;
  // determine_parallel_config (HEIGHT): out_nhw_ntiles = 64*64/32 = 128; the
  // largest divisor <= 64 cores with < 1 core of padding is 64.
  // get_conv_configs: nhw 4096 padded to 64*32 -> 64 rows = 2 tiles per core;
  // out channels 64 -> 2 tiles. Block config: act_block_h = 2 tiles (no
  // override), act_block_w = round_up(32 ch * kw 3, 32) = 96 -> 3 tiles.
  // get_cb_info: weights = 2 x 3 = 6 tiles (one act block in h: no x kernel_h),
  // act = 2 x 3 = 6 (split reader not viable: 1101.6 + 2887.4 cycles >= 2887.4),
  // act_tilized = 6, l1 scratchpad 64 B; out, partials, reader indices and the
  // sharded act alias buffers. 3 x 6 x 2048 + 64 = 36928.
  const auto* c = program(r, "conv2d");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->cb_bytes_per_core, 36928);
  ASSERT_EQ(c->cbs.size(), 4u);
  EXPECT_EQ(c->cbs[0].name, "weights");
  EXPECT_EQ(c->cbs[0].pages, 6);
  EXPECT_EQ(c->cbs[1].name, "act");
  EXPECT_EQ(c->cbs[2].name, "act_tilized");
  EXPECT_EQ(c->cbs[3].bytes(), 64);
  EXPECT_EQ(r.cb_bytes_per_core, 36928);
  // The input as TT-NN holds it: NHWC [1,1,4096,32], 128 tiles, 2 per bank.
  ASSERT_NE(alloc(r, "input 0"), nullptr);
  EXPECT_EQ(alloc(r, "input 0")->shape, (Shape{1, 1, 4096, 32}));
  EXPECT_EQ(alloc(r, "input 0")->bytes_per_bank, 4096);
  EXPECT_TRUE(alloc(r, "input 1 (on host: the op prepares it)")->on_host);
  // Reshard: 64 rows x 32 channels per core = 2 tiles.
  EXPECT_EQ(alloc(r, "conv input (height sharded)")->bytes_per_bank, 4096);
  // Weights, special padding: kh 3 x act_block_w 96 rows, 64 columns = 18 tiles, DRAM.
  const auto* w = alloc(r, "weights (prepared, DRAM)");
  EXPECT_EQ(w->shape, (Shape{1, 1, 288, 64}));
  EXPECT_EQ(w->bytes, 18 * 2048);
  EXPECT_EQ(w->buffer_type, BufferType::DRAM);
  // Halo: padded width 66; core c's 64 outputs are output row c, reading
  // padded rows c..c+2: 3 x 66 = 198 sticks of 32 bf16 = 64 B.
  const auto* h = alloc(r, "halo output (height sharded)");
  EXPECT_EQ(h->bytes_per_bank, 198 * 64);
  EXPECT_EQ(h->banks, 64);
  // Halo CBs: two pad sticks (64 B) and two untilize CBs of 2 x 1 tile.
  EXPECT_EQ(program(r, "halo")->cb_bytes_per_core, 2 * 64 + 2 * 2 * 2048);
  // Output shard: 2 x 2 tiles per core.
  EXPECT_EQ(alloc(r, "conv output (height sharded)")->bytes_per_bank, 4 * 2048);
  // Reader indices: per_core_out_h 2 tiles x 32 x 2 B = 128 B per core, L1_SMALL.
  const auto* idx = alloc(r, "conv reader indices #0 (L1_SMALL)");
  EXPECT_EQ(idx->buffer_type, BufferType::L1_SMALL);
  EXPECT_EQ(idx->bytes_per_bank, 128);
}

TEST(ConvMemory, Float32UsesFp32TilesAndSmallSubblocks) {
  auto r = plan::precheck(conv({{1, 32, 64, 64}, {64, 32, 3, 3}}, {"padding=1"}, "l1", DType::F32),
                          wh_small());
  ASSERT_TRUE(r.fits) << r.error;
  // Same blocks with 4096 B tiles; split reader still not viable
  // (1146.8 + 3398.9 >= 3398.9 cycles): 3 x 6 x 4096 + 64.
  EXPECT_EQ(program(r, "conv2d")->cb_bytes_per_core, 73792);
  // fp32 dest accumulation limits subblocks to 4 tiles: 2x2.
  bool found = false;
  for (const auto& n : r.notes) found |= n.find("subblock 2x2") != std::string::npos;
  EXPECT_TRUE(found);
  // Halo output keeps f32: 198 sticks x 32 x 4 B.
  EXPECT_EQ(alloc(r, "halo output (height sharded)")->bytes_per_bank, 198 * 128);
}

TEST(ConvMemory, ChannelsLastInputIsTheSameDeviceTensor) {
  auto a = plan::precheck(conv({{1, 32, 64, 64}, {64, 32, 3, 3}}, {"padding=1"}, "l1"), wh_small());
  auto b = plan::precheck(
      conv({{1, 64, 64, 32}, {64, 32, 3, 3}}, {"padding=1", "channels_last=true"}, "l1"),
      wh_small());
  ASSERT_TRUE(b.fits) << b.error;
  EXPECT_EQ(b.allocations[0].shape, (Shape{1, 1, 4096, 32}));
  EXPECT_EQ(a.cb_bytes_per_core, b.cb_bytes_per_core);
  EXPECT_EQ(a.peak_l1_per_core, b.peak_l1_per_core);
}

TEST(ConvMemory, NoL1SmallFailsOnTheFirstConfigTensor) {
  // l1_small_size 0 (TT-NN's default device): the halo's first config tensor
  // finds a 0 B bank, as tt-metal reports it ("... but bank size is 0 B").
  auto r = plan::precheck(conv({{1, 32, 64, 64}, {64, 32, 3, 3}}, {"padding=1"}, "l1"), wh());
  EXPECT_FALSE(r.fits);
  EXPECT_EQ(r.status, plan::Status::L1OutOfMem);
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 1024 B L1_SMALL buffer across 64 banks, "
            "where each bank needs to store 16 B");
  EXPECT_EQ(r.detail, r.error +
                          ", but bank size is 0 B (allocated: 0 B, free: 0 B, largest free block: "
                          "0 B)");
  EXPECT_EQ(r.allocations.back().what, "halo padding config 0 #0 (L1_SMALL)");
  EXPECT_FALSE(r.allocations.back().fits);
}

TEST(ConvMemory, L1SmallExhaustion) {
  // A 96 B L1_SMALL holds the two padding configs (16 B each) and the first
  // gather config (64 B per core); the second gather config finds it full.
  device::Profile p = wh();
  p.l1_small_size = 96;
  auto r = plan::precheck(conv({{1, 32, 64, 64}, {64, 32, 3, 3}}, {"padding=1"}, "l1"), p);
  EXPECT_FALSE(r.fits);
  EXPECT_EQ(r.allocations.back().what, "halo gather config 1 #0 (L1_SMALL)");
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 3456 B L1_SMALL buffer across 64 banks, "
            "where each bank needs to store 64 B");
  EXPECT_NE(r.detail.find("but bank size is 96 B (allocated: 96 B, free: 0 B, largest free "
                          "block: 0 B)"),
            std::string::npos)
      << r.detail;
}

TEST(ConvMemory, StemConv4kInL1FailsPlacingTheInput) {
  // YOLOv12x's stem at 2176x3840: NHWC [1,1,8355840,3], C padded to a tile.
  auto r = plan::precheck(
      conv({{1, 3, 2176, 3840}, {96, 3, 3, 3}}, {"stride=2", "padding=1"}, "l1"), wh_small());
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 534773760 B L1 buffer across 64 banks, "
            "where each bank needs to store 8355840 B");
  // What TT-NN would run next, not reached: act_block_h = the whole shard, 1020
  // tiles; act_tilized 1020 x 3 tiles; split reader halves act: 1530 + 1530.
  const auto* c = program(r, "conv2d");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->reached);
  EXPECT_EQ(c->cb_bytes_per_core, (9 + 1530 + 1530 + 3060) * 2048 + 64);
}

TEST(ConvMemory, StemConv4kInDramSlicesAutomatically) {
  auto c = conv({{1, 3, 2176, 3840}, {96, 3, 3, 3}}, {"stride=2", "padding=1"}, "dram");
  auto r = plan::precheck(c, wh_small());
  ASSERT_TRUE(r.fits) << r.error;
  bool twenty = false;
  for (const auto& n : r.notes) twenty |= n.find("20 width-slices") != std::string::npos;
  EXPECT_TRUE(twenty);
  // Output first, in DRAM: [1,1088,1920,96] = 1088 x 60 x 3 tiles.
  EXPECT_EQ(r.allocations[2].what, "output (DRAM interleaved)");
  EXPECT_EQ(r.allocations[2].bytes, 1088 * 60 * 3 * 2048);
  // Slice 1: output columns 0..95 (3 tiles), input columns 0..191 (left pad 1).
  const auto* in1 = alloc(r, "slice 1/20 input (height sharded)");
  ASSERT_NE(in1, nullptr);
  // 2176 x 192 sticks over 64 cores (padded to 64 x 32): 6528 rows of 8 ch x 2 B.
  EXPECT_EQ(in1->bytes_per_bank, 6528 * 16);
  EXPECT_GT(r.l1_small.peak_allocated, 0);
}

TEST(ConvMemory, WidthSliceInputsCarryTheirHalo) {
  ops::ConvCallShape s;
  s.H = 64;
  s.W = 128;
  s.C = 32;
  s.K = 32;
  s.kh = s.kw = 3;
  s.pt = s.pb = s.pl = s.pr = 1;
  ops::ConvDevice d;
  // OW 128 = 4 tiles in 2 slices of 64 columns (get_input_slice_and_padding):
  // slice 1 reads columns [0, 65) with the left pad; slice 2 [63, 128) with the right.
  auto sl = ops::conv_slices(s, ops::SliceDim::Width, 2, true, d);
  ASSERT_EQ(sl.slices.size(), 2u);
  EXPECT_EQ(sl.max_slices, 4);
  EXPECT_EQ(sl.slices[0].call.W, 65);
  EXPECT_EQ(sl.slices[0].call.pl, 1);
  EXPECT_EQ(sl.slices[0].call.pr, 0);
  EXPECT_EQ(sl.slices[0].call.OW(), 64);
  EXPECT_EQ(sl.slices[1].call.W, 65);
  EXPECT_EQ(sl.slices[1].call.pl, 0);
  EXPECT_EQ(sl.slices[1].call.pr, 1);
  EXPECT_EQ(sl.slices[1].call.OW(), 64);
  // The automatic count is the first whose estimate fits the free L1 given;
  // an image narrower than 200 is cut along height first (best_guess_slice_type).
  auto one = ops::conv_auto_slices(s, true, 1 << 30, d);
  EXPECT_EQ(one.slicing.num_slices, 1);
  auto tight = ops::conv_auto_slices(s, true, sl.l1_usage, d);
  EXPECT_EQ(tight.slicing.dim, ops::SliceDim::Height);
  EXPECT_LE(tight.slicing.l1_usage, sl.l1_usage);
  // Nothing fits: height (64 counts), then width (4), then TT_FATAL.
  auto none = ops::conv_auto_slices(s, true, 1000, d);
  EXPECT_TRUE(none.slicing.slices.empty());
  EXPECT_EQ(none.fatal,
            "DRAM Auto slice could not find valid slice configuration. Tried up to 4 slices for "
            "width-slicing on output dimension 128. Available L1: 1000 bytes. Operation requires "
            "more memory than available even with maximum slicing.");
}

TEST(ConvMemory, HaloSticksPerCore) {
  ops::ConvCallShape s;
  s.H = s.W = 64;
  s.C = 32;
  s.K = 64;
  s.kh = s.kw = 3;
  s.pt = s.pb = s.pl = s.pr = 1;
  // 64 cores, one output row each: 3 padded rows of 66.
  EXPECT_EQ(ops::halo_sticks_per_core(s, 64), 198);
  // 8 cores, 8 output rows each: 10 padded rows of 66 (the last core's 8 rows
  // reach row 65, the bottom pad).
  EXPECT_EQ(ops::halo_sticks_per_core(s, 8), 8 * 66 + 2 * 66);
  // Stride 2: 32x32 output; 16 cores of 64 outputs = output rows 2c, 2c+1.
  // First stick: output (2c, 0) at padded (4c, 0) = 264c; last: output
  // (2c+1, 31) at padded (4c+2, 62) = 264c + 194, plus the window's reach
  // 2 x 66 + 2: 264c + 328, so 329 sticks.
  s.sh = s.sw = 2;
  EXPECT_EQ(ops::halo_sticks_per_core(s, 16), (2 * 66 + 62 + 2 * 66 + 2) + 1);
}

// TT-NN's automatic slice count compares its estimate with the TOTAL free L1;
// a live buffer that splits L1 in two leaves that total but no block that
// large, so the count it picks runs out of memory. Ours replays the slices on
// the live device and takes the fewest that really fit.
TEST(ConvMemory, AutoSliceCountOomsOnFragmentedL1WhereOursFits) {
  const device::Profile& p = wh_small();
  // [1,32,512,512] -> 32 channels, 3x3, padding 1, input in DRAM.
  auto call = conv({{1, 32, 512, 512}, {32, 32, 3, 3}}, {"padding=1"}, "dram");
  std::vector<std::shared_ptr<device::Buffer>> none(call.inputs.size());
  // TT-NN's run (num_slices = 0) on a snapshot of `live`.
  auto ttnn_run = [&](const device::Device& live, plan::QueryResult& r) {
    r.outputs = plan::device_outputs(call);
    auto snap = live.snapshot();
    try {
      plan::place_call(*snap, call, none, r);
    } catch (const device::OutOfMemory&) {
    }
    for (const auto& n : r.notes)
      if (n.rfind("DRAM auto slice", 0) == 0) return std::stoll(n.substr(n.find(": ") + 2));
    return -1LL;
  };

  // Control: a live 40-tile-per-bank L1 buffer at the top of L1. 1293536 B
  // free per bank in one block; TT-NN picks 2 slices and they fit.
  device::Device whole(p, /*backed=*/false);
  plan::QueryResult in0;
  auto inputs0 = plan::place_inputs(whole, call, in0);
  auto live0 = whole.allocate(BufferType::L1, 64 * 40, 2048);
  EXPECT_EQ(whole.stats(BufferType::L1).free, 1293536);
  plan::QueryResult control;
  EXPECT_EQ(ttnn_run(whole, control), 2);
  EXPECT_TRUE(control.fits) << control.error;

  // The same live bytes, 300 tiles per bank lower: a tensor allocated above it
  // and freed since leaves a 614400 B hole on top. Total free is unchanged, so
  // TT-NN picks 2 slices again; the largest block is 679136 B and the slice's
  // circular buffers collide with its buffers.
  device::Device live(p, /*backed=*/false);
  plan::QueryResult in1;
  auto inputs1 = plan::place_inputs(live, call, in1);
  auto above = live.allocate(BufferType::L1, 64 * 300, 2048);
  auto held = live.allocate(BufferType::L1, 64 * 40, 2048);
  above.reset();
  const device::BankStats st = live.stats(BufferType::L1);
  EXPECT_EQ(st.free, 1293536);
  EXPECT_EQ(st.largest_free_block, 679136);
  plan::QueryResult tt;
  EXPECT_EQ(ttnn_run(live, tt), 2);
  EXPECT_FALSE(tt.fits);
  EXPECT_EQ(tt.status, plan::Status::CbOutOfMem);
  EXPECT_EQ(tt.error.rfind("Statically allocated circular buffers in program ", 0), 0u) << tt.error;

  // Ours: the fewest slices whose replay on this device fits.
  std::optional<int64_t> ours = plan::fewest_fitting_slices(live, call);
  ASSERT_TRUE(ours.has_value());
  EXPECT_EQ(*ours, 3);
  auto c = call;
  auto values = c.args.values();
  values["dram_slices"] = *ours;
  c.args = ops::Args(c.op->name, c.op->args, values);
  plan::QueryResult fit;
  fit.outputs = plan::device_outputs(c);
  auto snap = live.snapshot();
  EXPECT_NO_THROW(plan::place_call(*snap, c, none, fit));
  EXPECT_TRUE(fit.fits);
  std::printf("free %lld B/bank, largest block %lld B: TT-NN picks 2 slices -> %s\n  ours: %lld\n",
              static_cast<long long>(st.free), static_cast<long long>(st.largest_free_block),
              tt.error.c_str(), static_cast<long long>(*ours));
}

TEST(ConvMemory, PlannerPrefersTtnnDramSlicing) {
  auto call = conv({{1, 3, 2176, 3840}, {96, 3, 3, 3}}, {"stride=2", "padding=1"}, "l1");
  plan::Plan p = plan::choose_plan(call, wh_small(), {});
  EXPECT_EQ(p.strategy, plan::Strategy::Sliced);
  EXPECT_EQ(p.device_call.in_memory, BufferType::DRAM);
  EXPECT_GE(p.num_chunks, 1);
  EXPECT_TRUE(p.check.fits);
  EXPECT_NE(plan::plan_line(p).find("TT-NN DRAM slicing in"), std::string::npos);
}

TEST(ConvMemory, QueryJsonFields) {
  auto c = conv({{1, 32, 64, 64}, {64, 32, 3, 3}, {64}}, {"padding=1"}, "l1");
  auto r = plan::precheck(c, wh_small());
  ASSERT_TRUE(r.fits) << r.error;
  nlohmann::json j = plan::to_json(r, c, wh_small());
  EXPECT_EQ(j["fits"], true);
  EXPECT_EQ(j["l1_small_size"], 24576);
  ASSERT_TRUE(j["programs"].is_array());
  EXPECT_EQ(j["programs"].size(), 3u);
  EXPECT_EQ(j["programs"][2]["name"], "conv2d");
  // With a bias: one bias CB of per_core_out_w = 2 tiles.
  EXPECT_EQ(j["programs"][2]["cb_bytes_per_core"], 36928 + 2 * 2048);
  EXPECT_EQ(j["cb_bytes_per_core"], 36928 + 2 * 2048);
  bool small = false, bias = false;
  for (const auto& a : j["allocations"]) {
    small |= a["buffer_type"] == "L1_SMALL" && a["layout"] == "height sharded";
    bias |= a["what"] == "bias (prepared, DRAM)" && a["shape"] == nlohmann::json({1, 1, 32, 64});
  }
  EXPECT_TRUE(small);
  EXPECT_TRUE(bias);
  EXPECT_FALSE(j["notes"].empty());
  EXPECT_FALSE(j["not_modelled"].empty());
}
