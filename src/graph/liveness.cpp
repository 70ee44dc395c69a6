// Liveness: the nodes reading each tensor, and for each storage the last node
// that reads it or any view of it (a view keeps its base's pages alive).
#include <algorithm>

#include "graph/detail.hpp"

namespace oomless::graph::detail {

void compute_liveness(Graph& g) {
  const int end = static_cast<int>(g.nodes.size());
  for (auto& t : g.tensors) {
    t.users.clear();
    t.first_use = t.last_use = -1;
  }
  auto use = [&](int t, int n) {
    TensorInfo& x = g.tensors[t];
    if (x.users.empty() || x.users.back() != n) x.users.push_back(n);
    if (x.first_use < 0) x.first_use = n;
    x.last_use = std::max(x.last_use, n);
  };
  for (int n = 0; n < end; ++n) {
    const Node& node = g.nodes[n];
    for (int t : node.inputs) use(t, n);
    for (int t : node.call_inputs) use(t, n);  // constants made for scalar operands
    for (const Step& s : node.steps)
      for (int t : s.inputs) use(t, n);  // copies made for views the device cannot alias
  }
  for (int t : g.outputs) g.tensors[t].last_use = end;
  // A storage lives until the last use of any tensor on it.
  for (auto& t : g.tensors) {
    if (t.last_use < 0) continue;
    TensorInfo& s = g.tensors[t.storage];
    s.last_use = std::max(s.last_use, t.last_use);
    if (s.first_use < 0 || (t.first_use >= 0 && t.first_use < s.first_use))
      s.first_use = t.first_use;
  }
}

}  // namespace oomless::graph::detail
