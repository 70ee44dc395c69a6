// Chains: consecutive ops that share an independent axis, run chunk by chunk
// as one unit so their intermediates exist one chunk at a time (YOLOv12's
// attention bmm -> mul -> _softmax -> bmm over query rows; conv -> batch_norm ->
// silu_ over output rows). Internal to graph/.
#pragma once
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "ops/split_axes.hpp"

namespace oomless::graph {

struct Chain {
  std::vector<int> members;            // nodes in program order (compute, copy and view nodes)
  int run_at = -1;                     // the last member: every outer input exists by then
  std::map<int, int> dim;              // tensor -> its cut logical dim (-1: read whole)
  std::map<int, ops::SplitAxis> axis;  // compute member -> its semantic split axis
  int64_t extent = 0, align = 1;
  std::vector<int> cut_inputs, whole_inputs;  // outer tensors members read
  std::vector<int> outputs;                   // member storages read after the chain: written whole
  std::vector<int> internal;  // member storages only members read: one chunk at a time
  // Copies of whole-read views (materialising steps: node, step index), made once
  // before the chunks; the copies are whole inputs of the chain.
  std::vector<std::pair<int, int>> pre;
  std::string axis_text;  // "dim 1 (8160) of bmm"
};

// The chains worth running chunked: they start at an op whose output would not
// sit comfortably in L1 and follow single consumers along a mapped axis.
std::vector<Chain> find_chains(const Graph& g, const device::Profile& p);

// One program of a chunk: the call with its inputs cut, the tensors it reads and
// writes, and which outputs go into the chain's whole outputs (out_placed).
struct ChunkStep {
  int node = -1;
  plan::CallSpec call;
  std::vector<int> inputs, outputs;
  // Per input: the part read, [start, start + len) along the tensor's cut dim
  // (a halo for a windowed op's rows); len < 0: read whole.
  std::vector<std::pair<int64_t, int64_t>> in_range;
  std::vector<Shape> out_shape;  // logical shapes of the outputs' chunks
  bool materialise = false;      // a copy of a view the op reads
};

// The programs of the chunk [start, start + len) in member order.
std::vector<ChunkStep> chunk_steps(const Graph& g, const Chain& c, int64_t start, int64_t len);
// Start of a middle chunk of length len (its halo is a full one): the second
// chunk, kept inside the extent.
inline int64_t middle_chunk(const Chain& c, int64_t len) {
  return len < c.extent ? std::min(len, c.extent - len) : 0;
}

// Semantic split axes of a lowered compute node (logical shapes): the op
// table's, plus eval batch norm (per element) and in-place ops (as the op).
std::vector<ops::SplitAxis> semantic_axes(const Graph& g, const Node& n);

}  // namespace oomless::graph
