// oomless model query|plan GRAPH: a traced model replayed through one device
// allocator, strictly (as TT-NN model code places it) or planned so that it fits.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "graph/graph.hpp"
#include "graph/replay.hpp"
#include "report/model_report.hpp"

namespace oomless::cli {

namespace {

struct ModelOptions {
  std::string graph;
  std::string device = device::kDefaultProfile;
  std::string memory = "l1";
  bool all = false, json = false;
  std::string out;
  std::string l1_budget, dram_budget, host_budget;

  void add_to(CLI::App& app, bool plan) {
    app.add_option("graph", graph, "graph file (docs/graph-format.md)")->required();
    app.add_option("--device", device, "device profile name or a JSON file")->capture_default_str();
    app.add_option("--memory", memory,
                   plan ? "memory of the strict replay shown beside the plan: l1 | dram"
                        : "where activations go: l1 | dram")
        ->capture_default_str();
    if (!plan)
      app.add_flag("--all", all, "go on past failures and list every node that would fail");
    app.add_option("--l1-budget", l1_budget,
                   "cap on L1 over all banks, e.g. 64MB (each bank gets budget / banks)");
    app.add_option("--dram-budget", dram_budget, "cap on DRAM over all banks, e.g. 4GB");
    app.add_option("--host-budget", host_budget, "cap on host memory for spilled tensors");
    app.add_flag("--json", json, "print one JSON object");
    app.add_option("--out", out,
                   "write summary.txt, plan.json, report.md and report.html into this directory");
  }

  graph::ModelOptions options() const {
    graph::ModelOptions o;
    o.memory = device::parse_buffer_type(memory, "--memory");
    o.all = all;
    if (!l1_budget.empty()) o.budgets.l1 = plan::parse_bytes(l1_budget, "--l1-budget");
    if (!dram_budget.empty()) o.budgets.dram = plan::parse_bytes(dram_budget, "--dram-budget");
    if (!host_budget.empty()) o.budgets.host = plan::parse_bytes(host_budget, "--host-budget");
    return o;
  }
};

int run_model(const ModelOptions& mo, bool plan) {
  graph::ModelOptions o = mo.options();
  device::Profile profile = plan::apply_budgets(device::load_profile(mo.device), o.budgets);
  auto t0 = std::chrono::steady_clock::now();
  graph::Graph g = graph::load_graph(mo.graph);
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report::ModelRun run;
  run.graph = &g;
  run.profile = profile;
  run.options = o;
  run.load_seconds = load_s;
  // Strict with --all: every failing node is listed (the plan view shows it beside auto).
  graph::ModelOptions strict = o;
  strict.all = plan || o.all;
  auto t1 = std::chrono::steady_clock::now();
  run.strict = graph::run_strict(g, profile, strict);
  run.strict_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (plan) run.plan = graph::plan_model(g, profile, o);
  if (!mo.out.empty()) report::write_model_reports(mo.out, run);
  if (mo.json)
    fmt::print("{}\n", report::model_json(run).dump(2));
  else
    fmt::print("{}", report::model_summary(run));
  if (plan) return run.plan->best.fits ? 0 : 3;
  return run.strict.failures.empty() ? 0 : 3;
}

}  // namespace

void add_model(CLI::App& app, Registry& reg, Keep& keep) {
  CLI::App* model = app.add_subcommand(
      "model", "a traced model (graph file): strict replay (query) or a plan that fits (plan)");
  model->require_subcommand(1);
  auto& q = keep.make<ModelOptions>();
  CLI::App* query = model->add_subcommand(
      "query",
      "replay the graph as TT-NN model code places it (weights in DRAM, activations in --memory) "
      "through one allocator; report the first OOM with tt-metal's message (exit 3)");
  q.add_to(*query, false);
  reg.push_back({query, [&q] { return run_model(q, false); }});
  auto& p = keep.make<ModelOptions>();
  CLI::App* planc = model->add_subcommand(
      "plan",
      "place every tensor (L1, DRAM, host) and give every op a strategy (direct, streamed, "
      "sliced, chained chunks, host) so the whole graph fits; traffic against all-DRAM and "
      "greedy-L1 placement");
  p.add_to(*planc, true);
  reg.push_back({planc, [&p] { return run_model(p, true); }});
}

}  // namespace oomless::cli
