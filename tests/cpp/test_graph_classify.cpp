// torchvision classifiers as graphs: resnet18 (bf16, channels-last, 224x224) and
// a small MobileNetV2 (f32, channels-last) lower with no host op, their
// liveness keeps residuals and weights alive exactly as long as they are read,
// strict replays fail where TT-NN would and the auto plan fits. The lowerings
// the classifiers need (adaptive_avg_pool2d, as_strided_, hardtanh_) are
// checked on hand-written nodes, their limits too.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/replay.hpp"

using namespace oomless;
using graph::Graph;
using graph::NodeKind;
using nlohmann::json;

namespace {

std::string data(const std::string& name) {
  return std::string(OOMLESS_TEST_DATA) + "/graphs/" + name;
}

const device::Profile& profile(const std::string& name) {
  static std::map<std::string, device::Profile> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, device::load_profile(name)).first;
  return it->second;
}

graph::ModelOptions opts(device::BufferType mem, bool all = false) {
  graph::ModelOptions o;
  o.memory = mem;
  o.all = all;
  return o;
}

// The node that makes tensor `name`.
int node_of(const Graph& g, const std::string& name) {
  int t = g.find(name);
  EXPECT_GE(t, 0) << name;
  return t < 0 ? -1 : g.tensors[t].producer;
}

json tensor(const std::string& name, Shape shape, Strides stride, const char* alias = nullptr) {
  json t{{"name", name}, {"shape", shape}, {"dtype", "bf16"}, {"stride", stride}};
  t["alias_of"] = alias ? json(alias) : json(nullptr);
  return t;
}

// Input x (NCHW contiguous) and one node `op` on it making `out`.
Graph one_node(Shape x, const std::string& op, json args, json out) {
  Strides st(x.size(), 1);
  for (size_t i = x.size() - 1; i-- > 0;) st[i] = st[i + 1] * x[i + 1];
  std::string name = out["name"];
  json d{{"format", "oomless-graph"},
         {"version", 1},
         {"model", "T"},
         {"inputs", {tensor("x", x, st)}},
         {"nodes",
          {{{"name", name}, {"op", op}, {"inputs", {"x"}}, {"args", args}, {"outputs", {out}}}}},
         {"outputs", {name}}};
  return graph::parse_graph(d.dump(), "t.json");
}

}  // namespace

TEST(ClassifyGraph, Resnet18LowersEveryNodeToTheDevice) {
  Graph g = graph::load_graph(data("resnet18.graph.json"));
  ASSERT_EQ(g.nodes.size(), 71u);
  EXPECT_TRUE(g.host_ops.empty());
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) {
    ASSERT_NE(n.kind, NodeKind::Host) << n.name << ": " << n.host_reason;
    ++ops[std::string(n.op_desc->name)];
  }
  EXPECT_EQ(ops, (std::map<std::string, int>{{"convolution", 20},
                                             {"native_batch_norm", 20},
                                             {"relu", 17},
                                             {"add", 8},
                                             {"maxpool2d", 1},
                                             {"mean", 1},
                                             {"view", 2},  // as_strided_ and _reshape_alias
                                             {"transpose", 1},
                                             {"addmm", 1}}));
  // relu_ and add_ write into their input's pages.
  const auto& add = g.nodes[node_of(g, "add_")];
  EXPECT_TRUE(add.inplace);
  EXPECT_EQ(g.tensors[g.find("relu__2")].storage, g.find("native_batch_norm_2.0"));
  // The pooled [1,512,1,1] restrided channels-last is the mean's own pages.
  const auto& restride = g.nodes[node_of(g, "as_strided_")];
  EXPECT_EQ(restride.kind, NodeKind::View);
  EXPECT_EQ(g.tensors[g.find("as_strided_")].storage, g.find("mean"));
  const auto& mean = g.nodes[node_of(g, "mean")];
  EXPECT_EQ(mean.call_args.get_ints("dim"), (std::vector<int64_t>{-1, -2}));
  EXPECT_TRUE(mean.call_args.get_bool("keepdim"));
  // fc: addmm(bias, flatten, weight^T) with the transpose a view of the weight.
  const auto& fc = g.nodes[node_of(g, "addmm")];
  EXPECT_EQ(fc.kind, NodeKind::Compute);
  EXPECT_EQ(g.tensors[g.find("t")].storage, g.find("fc.weight"));
}

TEST(ClassifyGraph, Resnet18LivenessKeepsResidualsUntilTheirAdd) {
  Graph g = graph::load_graph(data("resnet18.graph.json"));
  auto t = [&](const char* n) { return g.tensors[g.find(n)]; };
  // The stem's pooled output feeds layer1.0.conv1 (node 4) and the block's add_ (9).
  EXPECT_EQ(t("max_pool2d_with_indices.0").users, (std::vector<int>{4, 9}));
  EXPECT_EQ(t("max_pool2d_with_indices.0").last_use, 9);
  // Block 1's output lives in bn2's pages (add_, relu_ in place) until block 2's add_.
  const int add2 = node_of(g, "add__1");
  EXPECT_EQ(g.nodes[add2].inputs.at(1), g.find("relu__2"));
  EXPECT_EQ(t("native_batch_norm_2.0").last_use, add2);
  // The batch norms' unused statistics are never read.
  EXPECT_EQ(t("native_batch_norm.1").last_use, -1);
  // The pooled vector is read through two views by addmm (70); fc.weight via t.
  EXPECT_EQ(t("mean").last_use, 70);
  EXPECT_EQ(t("fc.weight").last_use, 70);
  EXPECT_EQ(t("addmm").last_use, 71);  // the graph output lives to the end
  EXPECT_EQ(t("conv1.weight").users, std::vector<int>{0});
}

TEST(ClassifyGraph, Resnet18StrictFailsWithoutL1SmallAndFitsWithIt) {
  Graph g = graph::load_graph(data("resnet18.graph.json"));
  // Opened with l1_small_size 0, the stem conv's first halo config tensor fails.
  auto r = graph::run_strict(g, profile("wormhole_b0"), opts(device::BufferType::DRAM));
  ASSERT_FALSE(r.fits);
  ASSERT_FALSE(r.failures.empty());
  EXPECT_EQ(r.failures[0].node, 0);
  EXPECT_EQ(r.failures[0].tensor, "halo padding config 0 #0 (L1_SMALL)");
  EXPECT_EQ(r.failures[0].message,
            "Out of Memory: Not enough space to allocate 1344 B L1_SMALL buffer across 56 banks, "
            "where each bank needs to store 32 B");
  // With L1_SMALL, both activation placements fit at 224x224.
  for (auto mem : {device::BufferType::L1, device::BufferType::DRAM}) {
    const auto& p = profile("wormhole_b0_l1small");
    auto s = graph::run_strict(g, p, opts(mem));
    EXPECT_TRUE(s.fits) << (s.failures.empty() ? "" : s.failures[0].message);
    EXPECT_LE(s.peak_l1_per_bank, p.l1_bank_size());
    EXPECT_EQ(s.nodes.size(), g.nodes.size());
  }
}

TEST(ClassifyGraph, Resnet18PlanFitsOnWormhole) {
  Graph g = graph::load_graph(data("resnet18.graph.json"));
  const auto& p = profile("wormhole_b0");
  auto plan = graph::plan_model(g, p, graph::ModelOptions{});
  for (const auto* r : {&plan.best, &plan.all_dram, &plan.greedy_l1}) {
    ASSERT_TRUE(r->fits) << r->policy << ": " << r->error;
    EXPECT_LE(r->peak_l1_per_bank, p.l1_bank_size()) << r->policy;
    EXPECT_LE(r->peak_dram_per_bank, p.dram_allocatable()) << r->policy;
    ASSERT_EQ(r->nodes.size(), g.nodes.size());
    for (const auto& n : r->nodes) EXPECT_NE(n.strategy, "host") << r->policy;
  }
  EXPECT_LE(plan.greedy_l1.traffic.total(), plan.all_dram.traffic.total());
}

TEST(ClassifyGraph, MobileNetHardtanhInPlaceAndResidualAdds) {
  Graph g = graph::load_graph(data("mobilenet_mini.graph.json"));
  ASSERT_EQ(g.nodes.size(), 34u);
  EXPECT_TRUE(g.host_ops.empty());
  int relu6 = 0;
  for (const auto& n : g.nodes) {
    if (n.op != "aten.hardtanh_.default") continue;
    ++relu6;
    EXPECT_EQ(n.op_desc->name, "hardtanh");
    EXPECT_TRUE(n.inplace);
    EXPECT_EQ(n.call_args.get_float("min_val"), 0.0);
    EXPECT_EQ(n.call_args.get_float("max_val"), 6.0);
    EXPECT_EQ(g.tensors[n.outputs[0]].storage, g.tensors[n.inputs[0]].storage);
  }
  EXPECT_EQ(relu6, 7);
  // features.1's residual: the stem's ReLU6 output is read by the depthwise
  // conv (3) and the add (8), then freed.
  EXPECT_EQ(g.tensors[g.find("native_batch_norm.0")].last_use, 8);
  // A depthwise conv: groups = channels.
  EXPECT_EQ(g.nodes[node_of(g, "convolution_1")].call_args.get_int("groups"), 8);
  auto plan = graph::plan_model(g, profile("wormhole_b0"), graph::ModelOptions{});
  EXPECT_TRUE(plan.best.fits) << plan.best.error;
}

TEST(ClassifyGraph, AdaptiveAvgPoolIsAMeanOrACopyOrStaysOnTheHost) {
  const std::string op = "aten._adaptive_avg_pool2d.default";
  Graph one = one_node({1, 8, 7, 7}, op, {{"output_size", {1, 1}}},
                       tensor("p", {1, 8, 1, 1}, {8, 1, 1, 1}));
  ASSERT_EQ(one.nodes[0].kind, NodeKind::Compute);
  EXPECT_EQ(one.nodes[0].op_desc->name, "mean");
  EXPECT_EQ(one.nodes[0].call_args.get_ints("dim"), (std::vector<int64_t>{-2, -1}));
  EXPECT_TRUE(one.nodes[0].call_args.get_bool("keepdim"));
  // VGG's pool at 224x224: 7x7 -> 7x7 takes one pixel per output: a copy.
  Graph same = one_node({1, 8, 7, 7}, op, {{"output_size", {7, 7}}},
                        tensor("p", {1, 8, 7, 7}, {392, 49, 7, 1}));
  EXPECT_EQ(same.nodes[0].op_desc->name, "clone");
  EXPECT_EQ(same.tensors[same.find("p")].storage, same.find("p"));  // its own pages
  // 14x14 -> 7x7 has no op-table op: a host op that says why.
  Graph other = one_node({1, 8, 14, 14}, op, {{"output_size", {7, 7}}},
                         tensor("p", {1, 8, 7, 7}, {392, 49, 7, 1}));
  EXPECT_EQ(other.nodes[0].kind, NodeKind::Host);
  EXPECT_EQ(other.nodes[0].host_reason,
            "adaptive_avg_pool2d to [7,7] from 14x14 (only 1x1 or "
            "the input's size)");
  EXPECT_EQ(other.host_ops.at(op), 1);
  // A malformed output_size is an error naming the node.
  try {
    one_node({1, 8, 7, 7}, op, {{"output_size", 1}}, tensor("p", {1, 8, 1, 1}, {8, 1, 1, 1}));
    FAIL() << "loaded";
  } catch (const graph::GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'p'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("output_size 1"), std::string::npos) << e.what();
  }
}

TEST(ClassifyGraph, AsStridedIsAViewOnlyWhenItRestridesTheSameMemory) {
  const std::string op = "aten.as_strided_.default";
  // [1,1,64,64]: the size-1 dims may take any stride.
  Graph ok = one_node({1, 1, 64, 64}, op,
                      {{"size", {1, 1, 64, 64}}, {"stride", {1, 7, 64, 1}}, {"storage_offset", 0}},
                      tensor("v", {1, 1, 64, 64}, {1, 7, 64, 1}, "x"));
  ASSERT_EQ(ok.nodes[0].kind, NodeKind::View);
  EXPECT_EQ(ok.tensors[ok.find("v")].storage, ok.find("x"));
  // A transpose, an offset or another size are not views of the same memory.
  Graph tr = one_node(
      {1, 1, 64, 64}, op,
      {{"size", {1, 1, 64, 64}}, {"stride", {4096, 4096, 1, 64}}, {"storage_offset", nullptr}},
      tensor("v", {1, 1, 64, 64}, {4096, 4096, 1, 64}, "x"));
  EXPECT_EQ(tr.nodes[0].kind, NodeKind::Host);
  EXPECT_EQ(tr.nodes[0].host_reason,
            "as_strided size [1,1,64,64] stride [4096,4096,1,64] offset null is not a restride "
            "of 'x' (shape [1,1,64,64], stride [4096,4096,64,1])");
  Graph off =
      one_node({1, 1, 64, 64}, op,
               {{"size", {1, 1, 64, 64}}, {"stride", {4096, 4096, 64, 1}}, {"storage_offset", 64}},
               tensor("v", {1, 1, 64, 64}, {4096, 4096, 64, 1}, "x"));
  EXPECT_EQ(off.nodes[0].kind, NodeKind::Host);
  Graph sz =
      one_node({1, 1, 64, 64}, op,
               {{"size", {1, 1, 32, 64}}, {"stride", {4096, 4096, 64, 1}}, {"storage_offset", 0}},
               tensor("v", {1, 1, 32, 64}, {4096, 4096, 64, 1}, "x"));
  EXPECT_EQ(sz.nodes[0].kind, NodeKind::Host);
}
