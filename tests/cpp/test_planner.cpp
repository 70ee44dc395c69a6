// The planner's choices and the allocator's proof that planned runs fit.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "exec/planned.hpp"
#include "plan/planner.hpp"

using namespace oomless;
using plan::Strategy;

namespace {

plan::CallSpec call(const std::string& op, std::vector<Shape> shapes,
                    std::vector<std::string> args = {}, DType dtype = DType::BF16,
                    const std::string& memory = "l1") {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  for (auto& s : shapes) c.inputs.push_back({s, dtype});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  c.dtype = dtype;
  c.in_memory = device::parse_buffer_type(memory);
  return c;
}

device::Profile wormhole(plan::Budgets b = {}) {
  return plan::apply_budgets(device::load_profile("wormhole_b0"), b);
}

}  // namespace

TEST(Planner, ParseBytesUsesBinaryUnits) {
  EXPECT_EQ(plan::parse_bytes("64MB", "x"), 64ll << 20);
  EXPECT_EQ(plan::parse_bytes("1MiB", "x"), 1ll << 20);
  EXPECT_EQ(plan::parse_bytes("512kb", "x"), 512ll << 10);
  EXPECT_EQ(plan::parse_bytes("4096", "x"), 4096);
  EXPECT_EQ(plan::parse_bytes("1.5G", "x"), 3ll << 29);
  EXPECT_THROW(plan::parse_bytes("lots", "x"), InvalidArgument);
  EXPECT_THROW(plan::parse_bytes("-1MB", "x"), InvalidArgument);
  EXPECT_THROW(plan::parse_bytes("0", "x"), InvalidArgument);
}

TEST(Planner, BudgetsCapEachBank) {
  device::Profile p = wormhole({.l1 = 1ll << 20, .dram = 64ll << 20});
  EXPECT_EQ(p.l1_bank_size(), (1ll << 20) / 64);
  EXPECT_EQ(p.dram_allocatable(), (64ll << 20) / 12);
  EXPECT_THROW(wormhole({.l1 = 10}), InvalidArgument);
}

TEST(Planner, FitsDirectlyWhenTheRequestFits) {
  auto p = plan::choose_plan(call("relu", {{1, 64, 64}}), wormhole(), {});
  EXPECT_EQ(p.strategy, Strategy::Direct);
  EXPECT_TRUE(p.check.fits);
}

TEST(Planner, SeedAddCaseIsRePlacedInDram) {
  auto p = plan::choose_plan(call("add", {{1, 2176, 3840, 3}, {1, 2176, 3840, 3}}), wormhole(), {});
  EXPECT_EQ(p.strategy, Strategy::Replaced);
  EXPECT_EQ(p.device_call.in_memory, device::BufferType::DRAM);
  EXPECT_NE(p.why.find("534773760 B L1 buffer"), std::string::npos);
  EXPECT_TRUE(p.check.fits);
}

TEST(Planner, HugeSoftmaxIsChunkedWithStreamingCbsWithinBudgets) {
  plan::Budgets b{.l1 = 1ll << 20, .dram = 64ll << 20};
  device::Profile prof = wormhole(b);
  auto p = plan::choose_plan(call("softmax", {{1, 12, 8160, 8160}}, {"dim=-1"}), prof, b);
  ASSERT_EQ(p.strategy, Strategy::Chunked);
  EXPECT_TRUE(p.device_call.streaming_cbs);
  EXPECT_GT(p.num_chunks, 1);
  EXPECT_LE(p.check.peak_l1_per_core, prof.l1_bank_size());
  EXPECT_LE(p.check.peak_dram_per_bank, prof.dram_allocatable());
  // One more row per chunk would not fit: the chunk is the largest that does.
  plan::Plan bigger = p;
  bigger.chunk = p.chunk + 1;
  EXPECT_FALSE(plan::precheck(plan::chunk_call(bigger, p.device_call, 0), prof).fits);
}

TEST(Planner, UnsplittableCallFallsBackToTheHost) {
  plan::Budgets b{.l1 = 1ll << 20, .dram = 1ll << 20};
  auto p = plan::choose_plan(call("native_batch_norm", {{2, 8, 256, 256}}), wormhole(b), b);
  EXPECT_EQ(p.strategy, Strategy::HostFallback);
}

TEST(Planner, HostBudgetTooSmallIsAnError) {
  plan::Budgets b{.host = 1024};
  EXPECT_THROW(plan::choose_plan(call("relu", {{64, 64}}), wormhole(b), b), Error);
}
