// The graph loader: lowering, device storage, views, liveness, and every error
// a bad graph file gets (each names the node and the value).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/graph.hpp"

using namespace oomless;
using graph::Graph;
using graph::NodeKind;
using nlohmann::json;

namespace {

std::string data(const std::string& name) {
  return std::string(OOMLESS_TEST_DATA) + "/graphs/" + name;
}

json tensor(const std::string& name, Shape shape, Strides stride, const char* alias = nullptr) {
  json t{{"name", name}, {"shape", shape}, {"dtype", "bf16"}, {"stride", stride}};
  t["alias_of"] = alias ? json(alias) : json(nullptr);
  return t;
}

// A graph: input x [1,1,64,64] and the given nodes.
json doc(json nodes, json outputs = json::array({"relu"})) {
  return {{"format", "oomless-graph"},
          {"version", 1},
          {"model", "T"},
          {"inputs", json::array({tensor("x", {1, 1, 64, 64}, {4096, 4096, 64, 1})})},
          {"nodes", nodes},
          {"outputs", outputs}};
}

json relu(const std::string& name, const std::string& in) {
  return {{"name", name},
          {"op", "aten.relu.default"},
          {"inputs", {in}},
          {"args", json::object()},
          {"outputs", {tensor(name, {1, 1, 64, 64}, {4096, 4096, 64, 1})}}};
}

// The loader's error for a graph, or "" when it loads.
std::string error_of(const json& d) {
  try {
    graph::parse_graph(d.dump(), "t.json");
  } catch (const graph::GraphError& e) {
    return e.what();
  }
  return "";
}

void expect_error(const json& d, std::vector<std::string> parts) {
  std::string e = error_of(d);
  ASSERT_FALSE(e.empty()) << "loaded: " << d.dump();
  for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << e << "\nmissing: " << p;
}

}  // namespace

TEST(Graph, SmallChainLowersEachNode) {
  Graph g = graph::load_graph(data("small_chain.graph.json"));
  ASSERT_EQ(g.nodes.size(), 5u);
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_desc ? std::string(n.op_desc->name) : "-");
  EXPECT_EQ(ops, (std::vector<std::string>{"relu", "sigmoid", "add", "view", "mul"}));
  EXPECT_EQ(g.nodes[3].kind, NodeKind::View);
  EXPECT_EQ(g.nodes[4].kind, NodeKind::Compute);
  // mul(view, 2.0): the number became a constant tensor operand.
  ASSERT_EQ(g.nodes[4].call_inputs.size(), 2u);
  const auto& c = g.tensors[g.nodes[4].call_inputs[1]];
  EXPECT_EQ(c.kind, graph::TensorKind::Constant);
  EXPECT_EQ(c.value, 2.0);
  EXPECT_EQ(c.name, "mul.other");
  // The view shares add's storage (same pages: [1,1,64,64] and [64,64]).
  EXPECT_EQ(g.tensors[g.find("view")].storage, g.find("add"));
  EXPECT_TRUE(g.host_ops.empty());
}

TEST(Graph, LivenessCoversViewsAndOutputs) {
  Graph g = graph::load_graph(data("small_chain.graph.json"));
  auto t = [&](const char* n) { return g.tensors[g.find(n)]; };
  EXPECT_EQ(t("x").users, std::vector<int>{0});
  EXPECT_EQ(t("x").last_use, 0);
  EXPECT_EQ(t("relu").users, (std::vector<int>{1, 2}));
  EXPECT_EQ(t("relu").first_use, 1);
  EXPECT_EQ(t("relu").last_use, 2);
  EXPECT_EQ(t("sigmoid").last_use, 2);
  // add itself is read only by the view (node 3); its storage lives until the
  // view's reader, mul (node 4).
  EXPECT_EQ(t("add").users, std::vector<int>{3});
  EXPECT_EQ(t("add").last_use, 4);
  EXPECT_EQ(t("view").last_use, 4);
  // A graph output lives to the end (one past the last node).
  EXPECT_EQ(t("mul").last_use, 5);
  EXPECT_TRUE(t("mul").graph_output);
}

TEST(Graph, ChannelsLastActivationsAreStoredAsTtnnActivations) {
  // NHWC [1,96,1088,1920] is [1,1,2088960,96] on the device: 65280 x 3 tiles,
  // not the NCHW view's 96 x 34 x 60 (the last dims padded) nor NHWC's.
  json conv{{"name", "conv"},
            {"op", "aten.convolution.default"},
            {"inputs", {"x", "w"}},
            {"args",
             {{"bias", nullptr},
              {"stride", {2, 2}},
              {"padding", {1, 1}},
              {"dilation", {1, 1}},
              {"transposed", false},
              {"output_padding", {0, 0}},
              {"groups", 1}}},
            {"outputs", {tensor("conv", {1, 96, 1088, 1920}, {200540160, 1, 184320, 96})}}};
  json d{{"format", "oomless-graph"},
         {"version", 1},
         {"inputs", {tensor("x", {1, 3, 2176, 3840}, {25067520, 1, 11520, 3})}},
         {"params", {tensor("w", {96, 3, 3, 3}, {27, 1, 9, 3})}},
         {"nodes", {conv}},
         {"outputs", {"conv"}}};
  Graph g = graph::parse_graph(d.dump(), "conv.json");
  const auto& x = g.tensors[g.find("x")];
  EXPECT_TRUE(x.nhwc);
  EXPECT_EQ(x.device_shape, (Shape{1, 1, 2176 * 3840, 3}));
  // The seed's input: C pads from 3 to 32, 261120 tiles of 2048 B.
  EXPECT_EQ(graph::storage_bytes(x), 534773760);
  const auto& out = g.tensors[g.find("conv")];
  EXPECT_EQ(out.device_shape, (Shape{1, 1, 1088 * 1920, 96}));
  EXPECT_EQ(graph::storage_pages(out).num_pages, 1088 * 1920 / 32 * 3);
  // The conv runs NHWC (channels_last) and stores its output folded.
  const auto& step = g.nodes[0].steps.at(0);
  EXPECT_TRUE(g.nodes[0].nhwc_call);
  EXPECT_EQ(step.call.inputs[0].shape, (Shape{1, 2176, 3840, 3}));
  EXPECT_TRUE(step.call.args.get_bool("channels_last"));
  EXPECT_EQ(step.call.out_storage.at(0), out.device_shape);
  // The weight as TT-NN prepares it: [1, 1, kh*kw*C, K] (3 tiles of rows, 3 of columns).
  const auto& w = g.tensors[g.find("w")];
  EXPECT_EQ(w.device_shape, (Shape{1, 1, 27, 96}));
  EXPECT_EQ(graph::storage_pages(w).num_pages, 3);
}

TEST(Graph, ViewsAliasWhereThePagesMatchAndAreCopiedWhereNot) {
  Graph g = graph::load_graph(data("attention.graph.json"));
  auto id = [&](const char* n) { return g.find(n); };
  // qkv(x).flatten(2).transpose(1, 2) of a channels-last activation: the same
  // pages in the same order ([1,1024,192] is the activation's [1,1,1024,192]).
  EXPECT_TRUE(graph::aliasable(g, id("_reshape_alias")));
  EXPECT_TRUE(graph::aliasable(g, id("transpose")));
  EXPECT_EQ(g.tensors[id("transpose")].storage, id("getitem"));
  // A head's channels out of the interleaved qkv: gapped, so bmm copies it first.
  EXPECT_FALSE(graph::aliasable(g, id("getitem_3")));
  const auto& bmm = g.nodes[g.tensors[id("bmm")].producer];
  ASSERT_EQ(bmm.steps.size(), 3u);  // copies of q^T and k, then the bmm
  EXPECT_TRUE(bmm.steps[0].materialise);
  EXPECT_EQ(bmm.steps[2].call.op->name, "bmm");
  // The softmax's transpose is a view of the same pages in another order.
  EXPECT_TRUE(graph::aliasable(g, id("_reshape_alias_4")));
}

TEST(Graph, HostOpsAreKeptAndCounted) {
  Graph g = graph::load_graph(data("l1_oom.graph.json"));
  ASSERT_EQ(g.host_ops.size(), 1u);
  EXPECT_EQ(g.host_ops.at("aten.empty.memory_format"), 1);
  EXPECT_EQ(g.nodes[2].kind, NodeKind::Host);
  EXPECT_EQ(g.nodes[2].host_reason, "no op-table op");
  Graph y = graph::load_graph(data("mini_yolo.graph.json"));
  EXPECT_EQ(y.nodes.size(), 188u);
  EXPECT_EQ(y.host_ops.at("aten.empty.memory_format"), 27);
  // An unsupported argument value keeps a known op on the host too.
  json d = doc({{{"name", "mean"},
                 {"op", "aten.mean.dim"},
                 {"inputs", {"x"}},
                 {"args", {{"dim", {-1}}, {"keepdim", true}, {"dtype", "torch.float32"}}},
                 {"outputs", {tensor("mean", {1, 1, 64, 1}, {64, 64, 1, 1})}}}},
               {"mean"});
  Graph h = graph::parse_graph(d.dump(), "t.json");
  EXPECT_EQ(h.nodes[0].kind, NodeKind::Host);
  EXPECT_EQ(h.nodes[0].host_reason, "argument dtype=\"torch.float32\" is not supported");
}

TEST(Graph, BadFilesNameTheProblem) {
  EXPECT_EQ(error_of(doc({relu("relu", "x")})), "");  // the good one the others break
  // Not JSON.
  try {
    graph::parse_graph("{\"format\": ", "broken.json");
    FAIL();
  } catch (const graph::GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("graph broken.json: file: not valid JSON"),
              std::string::npos)
        << e.what();
  }
  json d = doc({relu("relu", "x")});
  d["format"] = "onnx";
  expect_error(d, {"format is \"onnx\", expected \"oomless-graph\""});
  d = doc({relu("relu", "x")});
  d["version"] = 2;
  expect_error(d, {"format version 2 is not supported"});
  d = doc({relu("relu", "x")});
  d.erase("nodes");
  expect_error(d, {"missing field 'nodes'"});
  expect_error(doc({relu("relu", "y")}), {"node 'relu'", "input 'y' is not a known tensor"});
  expect_error(doc({relu("a", "b"), relu("b", "x")}, {"b"}),
               {"node 'a'", "input 'b' is used before it is defined (by node \"b\")"});
  expect_error(doc({relu("relu", "x"), relu("relu", "relu")}), {"node name 'relu' is used twice"});
  json dup = relu("r2", "x");
  dup["outputs"][0]["name"] = "x";
  expect_error(doc({dup}, {"x"}), {"tensor 'x' is defined twice (first as input 'x')"});
  // A shape the op table's infer disagrees with.
  json bad = relu("relu", "x");
  bad["outputs"][0]["shape"] = {1, 1, 64, 32};
  bad["outputs"][0]["stride"] = {2048, 2048, 32, 1};
  expect_error(doc({bad}), {"node 'relu' (aten.relu.default)",
                            "output 'relu' has shape [1,1,64,32]", "relu infers [1,1,64,64]"});
  json badview{{"name", "v"},
               {"op", "aten.view.default"},
               {"inputs", {"x"}},
               {"args", {{"size", {3, 5}}}},
               {"outputs", {tensor("v", {3, 5}, {5, 1}, "x")}}};
  expect_error(doc({badview}, {"v"}), {"node 'v' (aten.view.default)", "[3,5]", "4096"});
  json alias{{"name", "r"},
             {"op", "aten._reshape_alias.default"},
             {"inputs", {"x"}},
             {"args", {{"size", {64, 64}}, {"stride", {1, 64}}}},
             {"outputs", {tensor("r", {64, 64}, {64, 1}, "x")}}};
  expect_error(doc({alias}, {"r"}), {"node 'r' (aten._reshape_alias.default)", "stride [1,64]",
                                     "not the output's strides [64,1]"});
  json wrong_alias = relu("relu", "x");
  wrong_alias["outputs"][0]["alias_of"] = "w";
  expect_error(doc({wrong_alias}), {"an alias of 'w', which is not one of its inputs"});
  json short_stride = relu("relu", "x");
  short_stride["outputs"][0]["stride"] = {64, 1};
  expect_error(doc({short_stride}), {"output 'relu'", "stride [64,1] has 2 entries"});
  expect_error(doc({relu("relu", "x")}, {"nope"}), {"graph output 'nope' is not a known tensor"});
  // The number of outputs must be the op's.
  json two = relu("relu", "x");
  two["outputs"].push_back(tensor("relu2", {1, 1, 64, 64}, {4096, 4096, 64, 1}));
  expect_error(doc({two}), {"the file lists 2 outputs; relu makes 1"});
}

TEST(Graph, YoloTraceLowersEveryNodeItCan) {
  Graph g = graph::load_graph(data("mini_yolo.graph.json"));
  int compute = 0, view = 0, host = 0;
  for (const auto& n : g.nodes) {
    compute += n.kind == NodeKind::Compute;
    view += n.kind == NodeKind::View;
    host += n.kind == NodeKind::Host;
  }
  EXPECT_EQ(host, 27);  // the batch norms' empty.memory_format
  EXPECT_EQ(compute + view + host, 188);
  // Every silu_ writes into its input's storage.
  for (const auto& n : g.nodes)
    if (n.op == "aten.silu_.default") {
      EXPECT_TRUE(n.inplace);
      EXPECT_EQ(g.tensors[n.outputs[0]].storage, g.tensors[n.inputs[0]].storage);
    }
}

TEST(Graph, SliceAndSelectAreViews) {
  // Rows [0, 32) of [1,1,64,64]: a whole-tile range of the same pages, read in
  // place; columns [0, 32): gapped, so relu copies them first.
  auto slice = [](const std::string& name, int64_t dim, Shape shape) {
    return json{{"name", name},
                {"op", "aten.slice.Tensor"},
                {"inputs", {"x"}},
                {"args", {{"dim", dim}, {"start", 0}, {"end", 32}, {"step", 1}}},
                {"outputs", {tensor(name, shape, {4096, 4096, 64, 1}, "x")}}};
  };
  json rows = slice("rows", 2, {1, 1, 32, 64}), cols = slice("cols", 3, {1, 1, 64, 32});
  json r1 = relu("r1", "rows"), r2 = relu("r2", "cols");
  r1["outputs"][0] = tensor("r1", {1, 1, 32, 64}, {2048, 2048, 64, 1});
  r2["outputs"][0] = tensor("r2", {1, 1, 64, 32}, {2048, 2048, 32, 1});
  json sel{{"name", "sel"},
           {"op", "aten.select.int"},
           {"inputs", {"x"}},
           {"args", {{"dim", 0}, {"index", 0}}},
           {"outputs", {tensor("sel", {1, 64, 64}, {4096, 64, 1}, "x")}}};
  Graph g =
      graph::parse_graph(doc({rows, cols, r1, r2, sel}, {"r1", "r2", "sel"}).dump(), "s.json");
  EXPECT_EQ(g.nodes[0].kind, NodeKind::View);
  EXPECT_EQ(g.nodes[0].op_desc->name, "slice");
  EXPECT_EQ(g.nodes[4].op_desc->name, "select");
  EXPECT_TRUE(graph::aliasable(g, g.find("rows")));
  EXPECT_FALSE(graph::aliasable(g, g.find("cols")));
  EXPECT_EQ(g.nodes[2].steps.size(), 1u);
  ASSERT_EQ(g.nodes[3].steps.size(), 2u);
  EXPECT_TRUE(g.nodes[3].steps[0].materialise);
  EXPECT_EQ(g.tensors[g.find("sel")].storage, g.find("x"));
}

TEST(Graph, TorchRulesTheOpTableLeavesToTheGraph) {
  // A 0-dim f32 constant times a bf16 tensor is bf16 (torch does not promote
  // within a category for 0-dim tensors): the graph loads.
  json mul{{"name", "mul"},
           {"op", "aten.mul.Tensor"},
           {"inputs", {"x", "c"}},
           {"args", json::object()},
           {"outputs", {tensor("mul", {1, 1, 64, 64}, {4096, 4096, 64, 1})}}};
  json d = doc({mul}, {"mul"});
  d["constants"] = {{{"name", "c"}, {"shape", json::array()}, {"dtype", "f32"}, {"value", 0.5}}};
  Graph g = graph::parse_graph(d.dump(), "c.json");
  EXPECT_EQ(g.nodes[0].kind, NodeKind::Compute);
  EXPECT_EQ(g.tensors[g.find("c")].dtype, DType::BF16);
  EXPECT_EQ(g.tensors[g.find("c")].value, 0.5);
  // A transposed convolution has no kernel here: a host op, not an error.
  json conv{{"name", "ct"},
            {"op", "aten.convolution.default"},
            {"inputs", {"x", "w"}},
            {"args",
             {{"bias", nullptr},
              {"stride", {2, 2}},
              {"padding", {0, 0}},
              {"dilation", {1, 1}},
              {"transposed", true},
              {"output_padding", {0, 0}},
              {"groups", 1}}},
            {"outputs", {tensor("ct", {1, 1, 128, 128}, {16384, 16384, 128, 1})}}};
  json t = doc({conv}, {"ct"});
  t["params"] = {tensor("w", {1, 1, 2, 2}, {4, 4, 2, 1})};
  Graph h = graph::parse_graph(t.dump(), "ct.json");
  EXPECT_EQ(h.nodes[0].kind, NodeKind::Host);
  EXPECT_EQ(h.nodes[0].host_reason, "argument transposed=true is not supported");
}
