// Whole-graph replays: strict OOMs computed by hand from the page arithmetic,
// plans that fit under tight budgets, attention chunked as one chain, and the
// traffic of the three placement policies.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "graph/replay.hpp"
#include "ops/op.hpp"

using namespace oomless;
using graph::Graph;

namespace {

std::string data(const std::string& name) {
  return std::string(OOMLESS_TEST_DATA) + "/graphs/" + name;
}

const device::Profile& wormhole() {
  static device::Profile p = device::load_profile("wormhole_b0");
  return p;
}

graph::ModelOptions opts(device::BufferType mem = device::BufferType::L1, bool all = false) {
  graph::ModelOptions o;
  o.memory = mem;
  o.all = all;
  return o;
}

// Bytes per bank of an interleaved bf16 TILE buffer of `tiles` pages.
int64_t per_bank(int64_t tiles, int64_t banks) {
  return (tiles + banks - 1) / banks * 2048;
}

void expect_within(const graph::ReplayResult& r, const device::Profile& p) {
  EXPECT_LE(r.peak_l1_per_bank, p.l1_bank_size()) << r.policy;
  EXPECT_LE(r.peak_dram_per_bank, p.dram_allocatable()) << r.policy;
  for (const auto& n : r.nodes) {
    EXPECT_LE(n.l1_per_bank + n.cb_per_core, p.l1_bank_size()) << r.policy;
    EXPECT_LE(n.dram_per_bank, p.dram_allocatable()) << r.policy;
  }
}

}  // namespace

TEST(GraphStrict, SmallChainPeakIsThreeTensorsAndAddsCbs) {
  Graph g = graph::load_graph(data("small_chain.graph.json"));
  auto r = graph::run_strict(g, wormhole(), opts());
  ASSERT_TRUE(r.fits);
  // [1,1,64,64] bf16: 4 tiles, one page in 4 of the 64 banks: 2048 B per bank.
  const int64_t t = per_bank(4, 64);
  EXPECT_EQ(t, 2048);
  // At add: relu, sigmoid and add live in L1, plus add's CBs (3 x 2 tiles).
  EXPECT_EQ(r.nodes[2].l1_per_bank, 3 * t);
  EXPECT_EQ(r.nodes[2].cb_per_core, 3 * 2 * 2048);
  EXPECT_EQ(r.peak_l1_per_bank, 3 * t + 3 * 2 * 2048);
  // x is freed after relu: relu and sigmoid at sigmoid, plus its 2 CBs.
  EXPECT_EQ(r.nodes[0].l1_per_bank, 2 * t);  // x and relu
  EXPECT_EQ(r.nodes[1].l1_per_bank, 2 * t);
  EXPECT_EQ(r.nodes[1].cb_per_core, 2 * 2 * 2048);
  // mul's constant (one tile) is the only DRAM buffer, placed with the weights.
  EXPECT_EQ(r.weights_dram_per_bank, 2048);
  EXPECT_EQ(r.nodes[3].strategy, "view");
}

TEST(GraphStrict, FirstOomIsTtMetalsMessageComputedByHand) {
  Graph g = graph::load_graph(data("l1_oom.graph.json"));
  const device::Profile& p = wormhole();
  auto r = graph::run_strict(g, p, opts());
  ASSERT_FALSE(r.fits);
  ASSERT_EQ(r.failures.size(), 1u);  // stops at the first one
  // [1,1,8192,4096] bf16: 256 x 128 tiles; x takes ceil(32768 / 64) pages per
  // bank, and relu's output needs as much again.
  const int64_t tiles = 8192 / 32 * (4096 / 32);
  const int64_t bank = per_bank(tiles, 64);
  EXPECT_EQ(bank, 1048576);
  const auto& f = r.failures[0];
  EXPECT_EQ(f.where, "relu");
  EXPECT_EQ(f.op, "aten.relu.default");
  EXPECT_EQ(f.tensor, "relu");
  EXPECT_EQ(f.status, plan::Status::L1OutOfMem);
  EXPECT_EQ(f.message,
            fmt::format("Out of Memory: Not enough space to allocate {} B L1 buffer across 64 "
                        "banks, where each bank needs to store {} B",
                        tiles * 2048, bank));
  const int64_t size = p.l1_size - p.l1_unreserved_base - p.l1_small_size;
  EXPECT_EQ(f.detail, fmt::format("{}, but bank size is {} B (allocated: {} B, free: {} B, largest "
                                  "free block: {} B)",
                                  f.message, size, bank, size - bank, size - bank));
  // In DRAM it fits: x, relu and softmax, then add (x lives to the end).
  auto d = graph::run_strict(g, p, opts(device::BufferType::DRAM));
  EXPECT_TRUE(d.fits);
  EXPECT_EQ(d.peak_dram_per_bank, 3 * ((tiles + 11) / 12) * 2048);
}

TEST(GraphStrict, AllListsEveryNodeThatFails) {
  Graph g = graph::load_graph(data("l1_oom.graph.json"));
  auto r = graph::run_strict(g, wormhole(), opts(device::BufferType::L1, true));
  // x stays in L1 (1 MiB of the 1.4 MiB bank); every 64 MiB output then fails
  // and goes to DRAM.
  ASSERT_EQ(r.failures.size(), 3u);
  EXPECT_EQ(r.failures[0].where, "relu");
  EXPECT_EQ(r.failures[1].where, "softmax");
  EXPECT_EQ(r.failures[2].where, "add");
  for (const auto& f : r.failures) EXPECT_EQ(f.message, r.failures[0].message);
  EXPECT_EQ(r.nodes[0].strategy, "failed; outputs in DRAM");
  EXPECT_EQ(r.nodes[2].strategy, "host");
  EXPECT_EQ(r.nodes[0].out_place[0], graph::Place::DRAM);
}

TEST(GraphStrict, CircularBufferOomNamesTheProgram) {
  // softmax over 1048576 columns: TT-NN's factory holds the whole row of
  // 32768 tiles in its exps CB (see ops/cb_model.cpp).
  Graph g = graph::load_graph(data("cb_oom.graph.json"));
  const device::Profile& p = wormhole();
  auto r = graph::run_strict(g, p, opts(device::BufferType::DRAM));
  ASSERT_EQ(r.failures.size(), 1u);
  const int64_t wt = 1048576 / 32, block = 8;  // find_max_divisor(32768, 8)
  const int64_t cbs = 2 * block * 2048 * 2 + 2048 + 2048 + wt * 2048 + 2048;
  EXPECT_EQ(r.failures[0].tensor, "circular buffers");
  EXPECT_EQ(r.failures[0].status, plan::Status::CbOutOfMem);
  EXPECT_EQ(r.failures[0].message,
            fmt::format("Statically allocated circular buffers on core range [(x=0,y=0) - "
                        "(x=7,y=7)] grow to {} B which is beyond max L1 size of {} B",
                        p.l1_unreserved_base + cbs, p.l1_size));
}

TEST(GraphPlan, FitsUnderTightBudgetsWhereStrictFails) {
  Graph g = graph::load_graph(data("l1_oom.graph.json"));
  graph::ModelOptions o;
  o.budgets.l1 = 8 << 20;     // 128 KiB per bank
  o.budgets.dram = 96 << 20;  // 8 MiB per bank: x and the result only
  device::Profile p = plan::apply_budgets(wormhole(), o.budgets);
  EXPECT_FALSE(graph::run_strict(g, p, opts(device::BufferType::DRAM)).fits);
  auto plan = graph::plan_model(g, p, o);
  ASSERT_TRUE(plan.best.fits) << plan.best.error;
  expect_within(plan.best, p);
  EXPECT_LE(plan.best.peak_l1_per_bank, (8 << 20) / 64);
  EXPECT_LE(plan.best.peak_dram_per_bank, (96 << 20) / 12);
  // relu -> softmax -> add run as one chain: relu's and softmax's outputs
  // exist one chunk at a time, so no 64 MiB buffer but x and the result.
  ASSERT_EQ(plan.chains.size(), 1u);
  EXPECT_GT(plan.chains[0].num_chunks, 1);
  EXPECT_EQ(plan.best.nodes[3].strategy, "chain");
  for (const auto& r : {plan.all_dram, plan.greedy_l1}) {
    EXPECT_TRUE(r.fits);
    expect_within(r, p);
  }
}

TEST(GraphPlan, AttentionScoresNeverExistWhole) {
  // Scores [2,1024,1024] bf16 (4 MiB) under an 8 MiB L1: bmm -> mul ->
  // _softmax -> bmm (and the views between) chunked as one chain.
  Graph g = graph::load_graph(data("attention.graph.json"));
  graph::ModelOptions o;
  o.budgets.l1 = 8 << 20;
  device::Profile p = plan::apply_budgets(wormhole(), o.budgets);
  auto plan = graph::plan_model(g, p, o);
  ASSERT_TRUE(plan.best.fits);
  expect_within(plan.best, p);
  const graph::ChainInfo* attn = nullptr;
  for (const auto& c : plan.chains) {
    std::vector<std::string> ops;
    for (int n : c.nodes) ops.push_back(g.nodes[n].op);
    auto has = [&](const char* op) { return std::find(ops.begin(), ops.end(), op) != ops.end(); };
    if (has("aten.bmm.default") && has("aten.mul.Tensor") && has("aten._softmax.default"))
      attn = &c;
  }
  ASSERT_NE(attn, nullptr);
  // Cut by heads (2) or by query rows (1024): either way never whole.
  EXPECT_TRUE(attn->extent == 2 || attn->extent == 1024) << attn->axis;
  EXPECT_GT(attn->num_chunks, 1);
  const int64_t scores = 2 * 1024 * 1024 * 2;
  EXPECT_EQ(attn->largest_whole_bytes, scores);
  EXPECT_LT(attn->largest_chunk_bytes, scores);
  // No buffer of the whole replay is as large as the scores.
  EXPECT_LT(plan.best.largest_buffer_bytes, scores) << plan.best.largest_buffer;
  int bmms = 0;
  for (int n : attn->nodes) bmms += g.nodes[n].op == "aten.bmm.default";
  EXPECT_EQ(bmms, 2);
}

TEST(GraphPlan, AutoMovesFewerBytesThanGreedyAndGreedyThanAllDram) {
  Graph g = graph::load_graph(data("mini_yolo.graph.json"));
  graph::ModelOptions o;
  o.budgets.l1 = 4 << 20;
  device::Profile p = plan::apply_budgets(wormhole(), o.budgets);
  auto plan = graph::plan_model(g, p, o);
  for (const auto* r : {&plan.all_dram, &plan.greedy_l1, &plan.best}) {
    EXPECT_TRUE(r->fits) << r->policy;
    expect_within(*r, p);
  }
  EXPECT_LT(plan.best.traffic.total(), plan.greedy_l1.traffic.total());
  EXPECT_LE(plan.greedy_l1.traffic.total(), plan.all_dram.traffic.total());
  // Every policy uploads the input once and reads the result back once.
  EXPECT_EQ(plan.all_dram.traffic.host_to_device, plan.best.traffic.host_to_device);
  // The same graph plans the same way twice.
  auto again = graph::plan_model(g, p, o);
  EXPECT_EQ(again.best.traffic.total(), plan.best.traffic.total());
  EXPECT_EQ(again.variant, plan.variant);
}
