// Graph JSON (oomless model FILE, docs/graph-format.md): loaded (validated,
// lowered, liveness), then replayed strict and planned on the default device.
#include "device/profile.hpp"
#include "fuzz_util.hpp"
#include "graph/graph.hpp"
#include "graph/replay.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const device::Profile profile = device::load_profile(device::kDefaultProfile);
  OOMLESS_FUZZ_ACCEPT({
    graph::Graph g = graph::parse_graph(fuzz_text(data, size), "fuzz.graph.json");
    graph::ModelOptions o;
    o.all = true;
    graph::ReplayResult strict = graph::run_strict(g, profile, o);
    graph::ModelPlan plan = graph::plan_model(g, profile, o);
    (void)strict;
    (void)plan;
  });
  return 0;
}
