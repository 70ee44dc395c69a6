// Composite unary ops (hardtanh, clamp, clamp_min) as TT-NN runs them in mid-2025:
// intermediates on the device, against the seed's hardtanh log.
#include <gtest/gtest.h>

#include "plan/precheck.hpp"

using namespace oomless;

namespace {

plan::CallSpec call(const std::string& op, Shape shape, std::vector<std::string> args = {}) {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  c.inputs.push_back({std::move(shape), DType::BF16});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  return c;
}

const device::Profile& wormhole() {
  static device::Profile p = device::load_profile("wormhole_b0");
  return p;
}

std::vector<std::string> whats(const plan::QueryResult& r) {
  std::vector<std::string> v;
  for (const auto& a : r.allocations) v.push_back(a.what + (a.fits ? "" : " NO"));
  return v;
}

}  // namespace

TEST(Composite, SeedHardtanhFailsAtMaximumsOutputWhenTwoBuffersFit) {
  // NHWC [1,136,120,1152]: 136 * 4 * 36 = 19584 tiles, 306 per bank = 626688 B;
  // x and minimum's a_max fit in a 1400032 B bank, maximum's output does not.
  auto r = plan::precheck(call("hardtanh", {1, 136, 120, 1152}), wormhole());
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 40108032 B L1 buffer across 64 banks, "
            "where each bank needs to store 626688 B");
  EXPECT_EQ(whats(r), (std::vector<std::string>{"input 0", "intermediate a_max = minimum(x, 1)",
                                                "output 0 = maximum(a_max, -1) NO"}));
  EXPECT_EQ(r.peak_l1_per_core, 2 * 626688 + 8192);  // x, a_max and minimum's CBs
}

TEST(Composite, SeedHardtanhFailsAtMinimumsOutput) {
  auto r = plan::precheck(call("hardtanh", {1, 136, 240, 768}), wormhole());
  EXPECT_EQ(r.error,
            "Out of Memory: Not enough space to allocate 53477376 B L1 buffer across 64 banks, "
            "where each bank needs to store 835584 B");
  ASSERT_EQ(r.allocations.size(), 2u);
  EXPECT_EQ(r.allocations[1].what, "intermediate a_max = minimum(x, 1)");
}

TEST(Composite, IntermediateIsFreedAndProgramsRunInOrder) {
  auto r = plan::precheck(call("hardtanh", {1, 8, 64, 64}, {"min_val=0"}), wormhole());
  ASSERT_TRUE(r.fits) << r.error;
  EXPECT_EQ(whats(r), (std::vector<std::string>{"input 0", "intermediate a_max = minimum(x, 1)",
                                                "output 0 = relu(a_max)",
                                                "free intermediate a_max = minimum(x, 1)"}));
  ASSERT_EQ(r.programs.size(), 2u);
  EXPECT_EQ(r.programs[0].name, "minimum");
  EXPECT_EQ(r.programs[1].name, "relu");  // min 0: TT-NN's relu instead of maximum
  // 32 tiles over 64 banks: one 2048 B page each; three live tensors plus 8 KiB of CBs.
  EXPECT_EQ(r.peak_l1_per_core, 3 * 2048 + 8192);
  EXPECT_EQ(r.l1.allocated, 2 * 2048);  // the intermediate is gone after the call
}

TEST(Composite, ClampWithOneBoundIsACompareThenWhere) {
  auto r = plan::precheck(call("clampmin", {1, 8, 64, 64}, {"min=0.25"}), wormhole());
  ASSERT_TRUE(r.fits) << r.error;
  ASSERT_EQ(r.programs.size(), 2u);
  EXPECT_EQ(r.programs[0].name, "ge");
  EXPECT_EQ(r.programs[1].name, "where");
  EXPECT_EQ(r.programs[1].cbs.size(), 3u);
  auto m = plan::precheck(call("clamp", {1, 8, 64, 64}, {"max=0.5"}), wormhole());
  EXPECT_EQ(m.programs.at(0).name, "le");
}

TEST(Composite, ClampWithMinAboveMaxFillsTheOutput) {
  auto r = plan::precheck(call("clamp", {4, 4}, {"min=0.75", "max=0.25"}), wormhole());
  ASSERT_TRUE(r.fits) << r.error;
  EXPECT_EQ(whats(r), (std::vector<std::string>{"input 0", "output 0 = full_like(x, 0.25)"}));
}

TEST(Composite, IntermediatesFollowTheOutputMemory) {
  auto c = call("hardtanh", {1, 136, 120, 1152});
  c.out_memory = device::BufferType::DRAM;
  auto r = plan::precheck(c, wormhole());
  ASSERT_TRUE(r.fits) << r.error;
  EXPECT_EQ(r.allocations.at(1).buffer_type, device::BufferType::DRAM);
  EXPECT_EQ(r.allocations.at(2).buffer_type, device::BufferType::DRAM);
}

TEST(Composite, DoubleBufferedChunksKeepThePreviousOutputDuringTheScript) {
  // A chunked run places chunk i while chunk i-1's input and output are live:
  // two inputs, the previous output, a_max and the output: five tensors.
  auto c = call("hardtanh", {1, 8, 64, 64});
  c.in_memory = c.out_memory.emplace(device::BufferType::DRAM);
  c.buffer_sets = 2;
  auto r = plan::precheck(c, wormhole());
  ASSERT_TRUE(r.fits) << r.error;
  // 32 tiles over 12 banks: 3 pages of 2048 B per bank and tensor.
  EXPECT_EQ(r.peak_dram_per_bank, 5 * 3 * 2048);
}
