// oomless model query|plan GRAPH: a traced model replayed through one device
// allocator, strictly (as TT-NN model code places it) or planned so that it fits.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/npy.hpp"
#include "core/safetensors.hpp"
#include "graph/graph.hpp"
#include "graph/replay.hpp"
#include "graph/run.hpp"
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

struct RunCmd {
  ModelOptions m;
  std::string weights, output, verify = "sample";
  std::vector<std::string> inputs;
  int64_t samples = 16;
  uint64_t seed = 0;
};

std::string mb(int64_t b) {
  return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6);
}

// Weights of a safetensors file, checked against the graph's params.
std::map<std::string, Tensor> load_weights(const graph::Graph& g, const std::string& path) {
  std::map<std::string, Tensor> out;
  auto file = read_safetensors(path);
  for (const auto& [name, st] : file) {
    int i = g.find(name);
    if (i < 0 || g.tensors[i].kind != graph::TensorKind::Param)
      throw InvalidArgument(
          fmt::format("weights {}: '{}' is not a param of the graph", path, name));
    if (st.shape != g.tensors[i].shape)
      throw InvalidArgument(fmt::format("weights {}: '{}' has shape {}, the graph says {}", path,
                                        name, shape_str(st.shape), shape_str(g.tensors[i].shape)));
    if (!g.tensors[i].dtype) continue;  // host only (num_batches_tracked)
    if (!st.tensor.defined())
      throw InvalidArgument(fmt::format("weights {}: '{}' has dtype {}, the graph says {}", path,
                                        name, st.dtype, g.tensors[i].dtype_name));
    out[name] = st.tensor;
  }
  for (int p : g.params) {
    const graph::TensorInfo& t = g.tensors[p];
    if (t.dtype && !t.users.empty() && !out.count(t.name))
      throw InvalidArgument(fmt::format("weights {}: no tensor '{}' ({} {})", path, t.name,
                                        shape_str(t.shape), t.dtype_name));
  }
  return out;
}

int model_run(const RunCmd& rc) {
  graph::RunOptions o;
  o.model = rc.m.options();
  o.verify = graph::parse_verify(rc.verify);
  o.samples = rc.samples;
  o.seed = rc.seed;
  device::Profile profile = plan::apply_budgets(device::load_profile(rc.m.device), o.model.budgets);
  graph::Graph g = graph::load_graph(rc.m.graph);
  if (!rc.weights.empty()) o.weights = load_weights(g, rc.weights);
  if (rc.inputs.size() > g.inputs.size())
    throw InvalidArgument(
        fmt::format("{} --input files for {} graph inputs", rc.inputs.size(), g.inputs.size()));
  for (size_t i = 0; i < rc.inputs.size(); ++i) {
    std::string spec = rc.inputs[i], name = g.tensors[g.inputs[i]].name;
    if (auto eq = spec.find('='); eq != std::string::npos && spec.find(".npy") > eq) {
      name = spec.substr(0, eq);
      spec = spec.substr(eq + 1);
    }
    o.inputs[name] = read_npy(spec);
  }
  auto need = graph::needs_python(g);
  if (!need.empty()) {
    fmt::print(stderr,
               "oomless model run: {} needs Python (oomless.run_model): no oomless kernel for "
               "{} node(s) whose outputs are used: {}\n",
               rc.m.graph, need.size(), fmt::join(need, ", "));
    return 2;
  }
  graph::RunReport r = graph::run_model(g, profile, o);
  const graph::ReplayResult& p = r.plan.best;
  bool ok = r.failed == 0 && r.peaks_match && r.run.fits;
  nlohmann::json j;
  j["graph"] = rc.m.graph;
  j["ok"] = ok;
  j["plan_seconds"] = r.plan_seconds;
  j["run_seconds"] = r.run_seconds;
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["planned"] = {{"l1_per_bank", p.peak_l1_per_bank},
                  {"dram_per_bank", p.peak_dram_per_bank},
                  {"host_bytes", p.peak_host_bytes}};
  j["measured"] = {{"l1_per_bank", r.run.peak_l1_per_bank},
                   {"dram_per_bank", r.run.peak_dram_per_bank},
                   {"host_bytes", r.run.peak_host_bytes},
                   {"allocator_l1_per_core", r.peak_l1_per_core},
                   {"allocator_l1_per_bank", r.peak_l1_per_bank},
                   {"allocator_dram_per_bank", r.peak_dram_per_bank}};
  j["peaks_match"] = r.peaks_match;
  j["verify"] = {
      {"mode", rc.verify},    {"programs", r.programs}, {"verified", r.verified_programs},
      {"checked", r.checked}, {"failed", r.failed},     {"first_failure", r.first_failure}};
  j["host_fallback"] = r.host_fallback;
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& [k, v] : r.by_op) ops[k] = {{"programs", v.programs}, {"seconds", v.seconds}};
  j["kernel_seconds"] = ops;
  j["other_seconds"] = {{"stage_in", r.stage_in_seconds},
                        {"stage_out", r.stage_out_seconds},
                        {"moves", r.move_seconds},
                        {"verify", r.verify_seconds}};
  if (!rc.output.empty()) {
    // Everything into a temporary directory, then renamed into place.
    namespace fs = std::filesystem;
    fs::path dir(rc.output), tmp = dir.string() + ".tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      std::string name = g.tensors[g.outputs[i]].name;
      write_npy((tmp / (name + ".npy")).string(), r.outputs[i]);
    }
    std::ofstream(tmp / "run.json") << j.dump(2) << "\n";
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(tmp))
      fs::rename(e.path(), dir / e.path().filename());
    fs::remove_all(tmp);
  }
  if (rc.m.json) {
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("model run {}: {} programs in {:.1f} s (plan {:.1f} s), peak RSS {}\n", rc.m.graph,
               r.programs, r.run_seconds, r.plan_seconds, mb(r.peak_rss_bytes));
    fmt::print("  peaks      planned          measured\n");
    fmt::print("  L1/bank    {:>14} B {:>14} B\n", p.peak_l1_per_bank, r.run.peak_l1_per_bank);
    fmt::print("  DRAM/bank  {:>14} B {:>14} B\n", p.peak_dram_per_bank, r.run.peak_dram_per_bank);
    fmt::print("  host       {:>14} B {:>14} B\n", p.peak_host_bytes, r.run.peak_host_bytes);
    fmt::print("  {}\n", r.peaks_match ? "measured peaks equal the plan's"
                                       : "MEASURED PEAKS DIFFER FROM THE PLAN");
    fmt::print("  verify {}: {} of {} programs, {} elements checked, {} failed{}\n", rc.verify,
               r.verified_programs, r.programs, r.checked, r.failed,
               r.failed ? " (first: " + r.first_failure + ")" : "");
    std::vector<std::pair<std::string, graph::OpTime>> by(r.by_op.begin(), r.by_op.end());
    std::sort(by.begin(), by.end(),
              [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    fmt::print("  time: staging in {:.2f} s, out {:.2f} s, moves {:.2f} s, verify {:.2f} s\n",
               r.stage_in_seconds, r.stage_out_seconds, r.move_seconds, r.verify_seconds);
    for (const auto& [k, v] : by)
      fmt::print("  {:<24} {:>6} programs {:>8.2f} s\n", k, v.programs, v.seconds);
    if (!r.host_fallback.empty())
      fmt::print("  host fallback: {}\n", fmt::join(r.host_fallback, ", "));
  }
  return ok ? 0 : 1;
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
  auto& r = keep.make<RunCmd>();
  CLI::App* runc = model->add_subcommand(
      "run",
      "run the graph with data under its auto plan on the emulated device (tensors in its "
      "arenas, chains chunk by chunk), each program checked against the slow reference; "
      "measured peaks against the plan's");
  r.m.add_to(*runc, true);
  runc->add_option("--weights", r.weights,
                   "safetensors file of the params (default: random, seeded, fan-in scaled)");
  runc->add_option("--input", r.inputs, "graph input as .npy ([NAME=]FILE, in input order)");
  runc->add_option("--output", r.output, "write the outputs (.npy) and run.json here");
  runc->add_option("--verify", r.verify, "per-program check: sample | full | off")
      ->capture_default_str();
  runc->add_option("--samples", r.samples, "elements checked per program output (sample)")
      ->capture_default_str();
  runc->add_option("--seed", r.seed, "seed of random weights and inputs")->capture_default_str();
  reg.push_back({runc, [&r] { return model_run(r); }});
}

}  // namespace oomless::cli
