// Internals shared by the graph loader's parts (graph.cpp, storage.cpp,
// lower.cpp, liveness.cpp). Not for other layers.
#pragma once
#include <string>

#include "graph/graph.hpp"

namespace oomless::graph::detail {

// "graph g.json: node 'add_3': ..." — every loader error names the file, node and value.
[[noreturn]] void fail_at(const Graph& g, const std::string& where, const std::string& what);

// Storage format of a tensor from its shape and strides (nhwc, dense, order,
// device_shape). Needs t.dtype for the page count tie-break (bf16 otherwise).
void set_format(TensorInfo& t);

// Same pages with the same contents: same last dim, and rows grouped into tiles
// the same way (same height, or both heights whole tiles).
bool same_pages(const Shape& a, const Shape& b);

// Lowers node `n` (classifies it, builds its semantic call, checks the op
// table's infer against the file, sets its outputs' storage and its steps).
void lower_node(Graph& g, int n);

// Users, first and last use of every tensor and storage.
void compute_liveness(Graph& g);

}  // namespace oomless::graph::detail
