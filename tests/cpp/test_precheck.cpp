// The pre-check against hand-computed tt-metal numbers on the seed's cases.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "plan/precheck.hpp"

using namespace oomless;
using plan::Status;

namespace {

plan::CallSpec call(const std::string& op, std::vector<Shape> shapes,
                    std::vector<std::string> args = {}, const std::string& memory = "l1",
                    DType dtype = DType::BF16, Layout layout = Layout::Tile) {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  for (auto& s : shapes) c.inputs.push_back({s, dtype});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  c.dtype = dtype;
  c.layout = layout;
  c.in_memory = device::parse_buffer_type(memory);
  return c;
}

const device::Profile& wormhole() {
  static device::Profile p = device::load_profile("wormhole_b0");
  return p;
}

}  // namespace

TEST(Precheck, SeedFirstAddCaseFailsPlacingTheFirstInput) {
  // bf16 [1,3,2176,3840] permuted to NHWC: C pads from 3 to 32.
  auto r = plan::precheck(call("add", {{1, 2176, 3840, 3}, {1, 2176, 3840, 3}}), wormhole());
  EXPECT_FALSE(r.fits);
  EXPECT_EQ(r.status, Status::L1OutOfMem);
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 534773760 B L1 buffer across 64 banks, "
            "where each bank needs to store 8355840 B");
  ASSERT_EQ(r.allocations.size(), 1u);
  EXPECT_EQ(r.allocations[0].what, "input 0");
  EXPECT_FALSE(r.allocations[0].fits);
}

TEST(Precheck, Issue22513Message) {
  auto r = plan::precheck(call("add", {{1, 256, 3, 25281}, {1, 256, 3, 25281}}), wormhole());
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 414711808 B L1 buffer across 64 banks, "
            "where each bank needs to store 6479872 B");
  EXPECT_NE(r.detail.find("but bank size is 1400032 B"), std::string::npos);
}

TEST(Precheck, InputFitsButOutputDoesNot) {
  // relu on NHWC [1,136,240,768]: 136 * 8 * 24 = 26112 tiles, 408 per bank = 835584 B.
  auto r = plan::precheck(call("relu", {{1, 136, 240, 768}}), wormhole());
  ASSERT_EQ(r.allocations.size(), 2u);
  EXPECT_TRUE(r.allocations[0].fits);
  EXPECT_EQ(r.allocations[0].bytes_per_bank, 835584);
  EXPECT_EQ(r.allocations[0].address, 1499136 - 835584);  // top-down
  EXPECT_FALSE(r.allocations[1].fits);
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 53477376 B L1 buffer across 64 banks, "
            "where each bank needs to store 835584 B");
  EXPECT_EQ(r.peak_l1_per_core, 835584);
}

TEST(Precheck, SecondInputFailsAfterTheFirst) {
  auto r = plan::precheck(call("mul", {{1, 136, 240, 768}, {1, 136, 240, 768}}), wormhole());
  ASSERT_EQ(r.allocations.size(), 2u);
  EXPECT_EQ(r.allocations[1].what, "input 1");
  EXPECT_FALSE(r.allocations[1].fits);
}

TEST(Precheck, DramPlacementFitsAndCountsCbs) {
  auto r =
      plan::precheck(call("add", {{1, 2176, 3840, 3}, {1, 2176, 3840, 3}}, {}, "dram"), wormhole());
  EXPECT_TRUE(r.fits) << r.error;
  EXPECT_EQ(r.status, Status::Pass);
  ASSERT_EQ(r.allocations.size(), 3u);
  // 261120 tiles over 12 DRAM banks: 21760 tiles of 2048 B each.
  EXPECT_EQ(r.allocations[0].bytes_per_bank, 21760 * 2048);
  EXPECT_EQ(r.allocations[0].banks, 12);
  EXPECT_EQ(r.allocations[0].address, 32);
  EXPECT_EQ(r.allocations[1].address, 32 + 21760 * 2048);
  EXPECT_EQ(r.peak_dram_per_bank, 3 * 21760 * 2048);
  EXPECT_GT(r.cb_bytes_per_core, 0);
  EXPECT_EQ(r.peak_l1_per_core, r.cb_bytes_per_core);
}

TEST(Precheck, OutputMemoryOverride) {
  auto c = call("relu", {{1, 136, 240, 768}});
  c.out_memory = device::BufferType::DRAM;
  auto r = plan::precheck(c, wormhole());
  EXPECT_TRUE(r.fits) << r.error;
  EXPECT_EQ(r.allocations[1].buffer_type, device::BufferType::DRAM);
}

TEST(Precheck, ViewsAllocateNothingUnlessTilePagesChange) {
  // unsqueeze(0) keeps the last two dims: same pages, no buffer, no program.
  auto r = plan::precheck(call("unsqueeze", {{4, 64, 64}}, {"dim=0"}), wormhole());
  ASSERT_EQ(r.allocations.size(), 2u);
  EXPECT_TRUE(r.allocations[1].is_view);
  EXPECT_EQ(r.cb_bytes_per_core, 0);
  // view [4,64,64] -> [4,4096]: the padded last two dims change, TT-NN copies.
  auto v = plan::precheck(call("view", {{4, 64, 64}}, {"size=4,4096"}), wormhole());
  ASSERT_EQ(v.allocations.size(), 2u);
  EXPECT_FALSE(v.allocations[1].is_view);
  // [2,30,64] -> [3,20,64]: same padded dims but rows group into tiles differently.
  auto w = plan::precheck(call("view", {{2, 30, 64}}, {"size=3,20,64"}), wormhole());
  EXPECT_FALSE(w.allocations[1].is_view);
  // [2,64,64] -> [4,32,64]: whole tiles, same pages.
  auto x = plan::precheck(call("view", {{2, 64, 64}}, {"size=4,32,64"}), wormhole());
  EXPECT_TRUE(x.allocations[1].is_view);
  // A permute that moves real dims is a copy on the device.
  auto p = plan::precheck(call("permute", {{1, 8, 64, 32}}, {"dims=0,2,3,1"}), wormhole());
  EXPECT_FALSE(p.allocations[1].is_view);
  auto q = plan::precheck(call("permute", {{1, 8, 64, 32}}, {"dims=1,0,2,3"}), wormhole());
  EXPECT_TRUE(q.allocations[1].is_view);
}

TEST(Precheck, RowMajorPagesAreRows) {
  auto r = plan::precheck(call("relu", {{3, 5, 7}}, {}, "dram", DType::F32, Layout::RowMajor),
                          wormhole());
  EXPECT_EQ(r.allocations[0].pages, 15);
  EXPECT_EQ(r.allocations[0].page_size, 28);
  // 15 rows over 12 banks: 2 per bank, each aligned to 32 B.
  EXPECT_EQ(r.allocations[0].bytes_per_bank, 64);
}

TEST(Precheck, SoftmaxCbsGrowWithTheRowAndOverflowL1) {
  auto narrow = plan::precheck(call("softmax", {{1, 1, 32, 1024}}, {"dim=-1"}, "dram"), wormhole());
  auto wide = plan::precheck(call("softmax", {{1, 1, 32, 65536}}, {"dim=-1"}, "dram"), wormhole());
  EXPECT_TRUE(narrow.fits) << narrow.error;
  EXPECT_GT(wide.cb_bytes_per_core, narrow.cb_bytes_per_core);
  EXPECT_FALSE(wide.fits);
  EXPECT_EQ(wide.status, Status::CbOutOfMem);
  EXPECT_NE(wide.error.find("Statically allocated circular buffers on core range [(x=0,y=0) - "
                            "(x=7,y=7)] grow to "),
            std::string::npos)
      << wide.error;
  EXPECT_NE(wide.error.find("which is beyond max L1 size of 1499136 B"), std::string::npos);
}

TEST(Precheck, BadInputIsAnInvalidArgumentNamingTheOp) {
  EXPECT_THROW(ops::find_op("no_such_op"), InvalidArgument);
  try {
    plan::precheck(call("add", {{2, 3}, {4, 3}}), wormhole());
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("[add]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(call("softmax", {{2, 3}}, {"dim=x"}), InvalidArgument);
  EXPECT_THROW(call("softmax", {{2, 3}}, {"bogus=1"}), InvalidArgument);
  EXPECT_THROW(plan::precheck(call("softmax", {{2, 3}}, {"dim=5"}), wormhole()), InvalidArgument);
}

TEST(Precheck, InPlaceOpsRunTheirProgramWithoutANewBuffer) {
  // silu_ reuses its input's pages but still runs an eltwise program: 2 CBs of
  // 2 bf16 tiles.
  auto r = plan::precheck(call("silu_inplace", {{1, 1, 64, 64}}), wormhole());
  ASSERT_TRUE(r.fits);
  ASSERT_EQ(r.allocations.size(), 2u);
  EXPECT_TRUE(r.allocations[1].is_view);
  EXPECT_EQ(r.cb_bytes_per_core, 2 * 2 * 2048);
  // add_: `inplace` writes output 0 into input 0 (3 CBs: in0, in1, out).
  auto c = call("add", {{1, 1, 64, 64}, {1, 1, 64, 64}});
  c.inplace = true;
  r = plan::precheck(c, wormhole());
  ASSERT_EQ(r.allocations.size(), 3u);
  EXPECT_EQ(r.allocations[2].what, "output 0 (in place of input 0)");
  EXPECT_TRUE(r.allocations[2].is_view);
  EXPECT_EQ(r.cb_bytes_per_core, 3 * 2 * 2048);
  // A pure view still runs nothing.
  r = plan::precheck(call("view", {{1, 1, 64, 64}}, {"size=1,64,64"}), wormhole());
  EXPECT_EQ(r.cb_bytes_per_core, 0);
}

TEST(Precheck, OutputStorageShapeSetsThePages) {
  // relu on NHWC [1,136,240,768] stored as TT-NN stores activations,
  // [1,1,32640,768]: 1020 * 24 = 24480 tiles (not 26112: W is no longer padded
  // from 240 to 256), ceil(24480 / 64) = 383 per bank.
  auto c = call("relu", {{1, 136, 240, 768}}, {}, "dram");
  c.out_memory = device::BufferType::L1;
  c.out_storage = {{1, 1, 32640, 768}};
  auto r = plan::precheck(c, wormhole());
  ASSERT_TRUE(r.fits);
  EXPECT_EQ(r.allocations[1].pages, 24480);
  EXPECT_EQ(r.allocations[1].bytes_per_bank, 383 * 2048);
  EXPECT_EQ(r.allocations[1].shape, (Shape{1, 1, 32640, 768}));
}
