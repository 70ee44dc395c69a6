#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/host_budget.hpp"
#include "core/npy.hpp"
#include "exec/planned.hpp"
#include "exec/streamed.hpp"
#include "exec/verify.hpp"

namespace oomless::cli {

namespace {

struct RunOptions {
  CallOptions call;
  std::string policy = "auto";
  std::vector<std::string> inputs, outputs;
  std::string verify = "sample";
  int64_t samples = 2000;
  uint64_t seed = 0;
  std::string init = "rand";
  void add_to(CLI::App& app);
};

void RunOptions::add_to(CLI::App& app) {
  call.add_to(app);
  app.add_option("--policy", policy,
                 "auto: never run out of memory (re-place, stream, chunk, host fallback); "
                 "strict: honour the placement and fail like TT-NN")
      ->capture_default_str();
  app.add_option("--input", inputs, "read input i from a .npy file (repeat per input)");
  app.add_option("--output", outputs, "write output i to a .npy file (repeat per output)");
  app.add_option("--verify", verify, "none | sample | full")->capture_default_str();
  app.add_option("--samples", samples, "elements checked per output with --verify sample")
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the random inputs")->capture_default_str();
  app.add_option("--init", init, "random inputs: rand (uniform [0,1), the seed's) | randn | ones")
      ->capture_default_str();
}

// SIGINT/SIGTERM during a run: stop after the current chunk (outputs written so
// far are temporaries, removed); a second signal ends the process at once.
std::atomic<bool> g_run_stop{false};
extern "C" void on_run_signal(int) {
  g_run_stop = true;
}
struct RunSignals {
  struct sigaction old_int {
  }, old_term{};
  RunSignals() {
    g_run_stop = false;
    struct sigaction sa {};
    sa.sa_handler = on_run_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~RunSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

void check_stop(std::string_view name) {
  if (g_run_stop) throw Interrupted(fmt::format("[{}] interrupted; no output was written", name));
}

// The --input files, opened (headers read, data mapped only when read); the
// call takes their shapes when --shape is not given.
std::vector<std::shared_ptr<NpyReader>> open_inputs(plan::CallSpec& call, const RunOptions& o) {
  std::string_view name = call.op->name;
  std::vector<std::shared_ptr<NpyReader>> readers;
  if (o.inputs.empty()) return readers;
  bool shapes_given = !call.inputs.empty();
  if (shapes_given && o.inputs.size() != call.inputs.size())
    fail(name, fmt::format("{} --input files for {} --shape inputs", o.inputs.size(),
                           call.inputs.size()));
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    auto r = std::make_shared<NpyReader>(o.inputs[i]);
    if (shapes_given && r->shape() != call.inputs[i].shape)
      fail(name, fmt::format("--input {} has shape {}, but --shape says {}", o.inputs[i],
                             shape_str(r->shape()), shape_str(call.inputs[i].shape)));
    if (!shapes_given) call.inputs.push_back({r->shape(), call.dtype});
    readers.push_back(std::move(r));
  }
  return readers;
}

std::vector<Tensor> load_inputs(const plan::CallSpec& call, const RunOptions& o,
                                const std::vector<std::shared_ptr<NpyReader>>& readers) {
  if (readers.empty()) return exec::make_inputs(call, exec::parse_init(o.init), o.seed);
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < readers.size(); ++i) {
    const Shape& s = readers[i]->shape();
    inputs.push_back(
        readers[i]->read(0, 0, s.empty() ? 1 : s[0], exec::host_dtype(call.inputs[i].dtype)));
  }
  return inputs;
}

int run_run(const RunOptions& o) {
  plan::CallSpec call = o.call.to_call();
  std::string_view name = call.op->name;
  if (o.policy != "strict" && o.policy != "auto")
    fail(name, fmt::format("unknown --policy '{}' (expected auto or strict)", o.policy));
  if (o.verify != "none" && o.verify != "sample" && o.verify != "full")
    fail(name, fmt::format("unknown --verify '{}' (expected none, sample or full)", o.verify));
  device::Profile profile = o.call.profile();
  exec::Init init = exec::parse_init(o.init);
  auto readers = open_inputs(call, o);
  // The host budget: --host-budget, else what this process may still use.
  plan::Budgets budgets = o.call.budgets();
  const bool default_budget = !budgets.host;
  if (default_budget) budgets.host = host_budget::default_budget();
  budgets.host_streaming = true;
  auto budget_what = [&] {
    return default_budget ? "available to this process: " + host_budget::default_probe().limited_by
                          : std::string("--host-budget");
  };
  plan::Plan plan;
  try {
    if (o.policy == "auto") {
      plan = plan::choose_plan(call, profile, budgets);
    } else {
      plan.device_call = call;
      plan.check = plan::precheck(call, profile);
      if (!plan.check.fits) {
        if (o.call.json)
          fmt::print("{}\n", nlohmann::json({{"op", name},
                                             {"policy", o.policy},
                                             {"fits", false},
                                             {"status", plan::status_name(plan.check.status)},
                                             {"error", plan.check.error}})
                                 .dump(2));
        else
          fmt::print("{} on {} (strict policy): does not fit\n{}\n", name, profile.name,
                     plan.check.error);
        return 3;
      }
      plan.host_bytes = plan::host_tensor_bytes(call);
      plan.host_peak_bytes = plan::host_need_whole(plan, call, profile);
      if (plan.host_peak_bytes > *budgets.host)
        throw HostOutOfMemory(
            fmt::format("[{}] {}; the strict policy holds its tensors whole", name,
                        host_budget::shortfall(plan.host_peak_bytes, *budgets.host, "")),
            plan.host_peak_bytes, *budgets.host);
    }
  } catch (const HostOutOfMemory& e) {
    // Nothing has been allocated: say what was measured and stop (exit 5).
    throw HostOutOfMemory(std::string(e.what()) + " [host budget: " + budget_what() + "]", e.needed,
                          e.available);
  }
  if (o.outputs.size() > plan::device_outputs(call).outputs.size())
    fail(name, fmt::format("{} --output files for {} outputs", o.outputs.size(),
                           plan::device_outputs(call).outputs.size()));
  RunSignals signals;
  exec::PlannedResult pr;
  exec::VerifyResult v;
  std::vector<Shape> out_shapes;
  std::vector<DType> out_dtypes;
  int64_t samples = o.verify == "none" ? -1 : o.verify == "full" ? 0 : o.samples;
  if (plan.host_streamed) {
    ops::OutputSpec out = plan::device_outputs(call);
    std::vector<std::unique_ptr<NpyWriter>> writers;
    std::vector<NpyWriter*> sinks;
    for (size_t i = 0; i < o.outputs.size(); ++i) {
      writers.push_back(std::make_unique<NpyWriter>(o.outputs[i], out.outputs[i].shape,
                                                    exec::host_dtype(out.outputs[i].dtype)));
      sinks.push_back(writers.back().get());
    }
    std::vector<exec::StreamInput> sources(call.inputs.size());
    for (size_t i = 0; i < sources.size(); ++i) {
      if (i < readers.size()) sources[i].npy = readers[i];
      sources[i].init = init;
      sources[i].seed = o.seed;
    }
    exec::StreamedResult sr =
        exec::run_streamed(plan, call, sources, sinks, profile, samples, o.seed, &g_run_stop);
    check_stop(name);
    for (auto& w : writers) w->commit();
    pr = std::move(sr.planned);
    v = sr.verify;
    for (const auto& t : out.outputs) {
      out_shapes.push_back(t.shape);
      out_dtypes.push_back(exec::host_dtype(t.dtype));
    }
  } else {
    std::vector<Tensor> inputs = load_inputs(call, o, readers);
    readers.clear();
    pr = exec::run_planned(plan, call, inputs, profile);
    if (samples >= 0) {
      ops::OpCall ref_call{*call.op, inputs, call.args};
      v = exec::verify_outputs(ref_call, pr.run.outputs, samples, o.seed);
    }
    check_stop(name);
    for (size_t i = 0; i < o.outputs.size() && i < pr.run.outputs.size(); ++i)
      write_npy(o.outputs[i], pr.run.outputs[i]);
    for (const auto& t : pr.run.outputs) {
      out_shapes.push_back(t.shape());
      out_dtypes.push_back(t.dtype());
    }
  }
  const exec::RunResult& r = pr.run;
  if (o.call.json) {
    nlohmann::json j = plan::to_json(plan.check, plan.device_call, profile);
    j["op"] = name;
    j["policy"] = o.policy;
    j["plan"] = plan::plan_json(plan, profile);
    j["seconds"] = r.seconds;
    j["compute_seconds"] = r.compute_seconds;
    j["peak_l1_per_core"] = r.peak_l1_per_core;
    j["peak_dram_per_bank"] = r.peak_dram_per_bank;
    j["peak_l1_total"] = r.peak_l1_per_core * profile.l1_banks;
    j["peak_dram_total"] = r.peak_dram_per_bank * profile.dram_banks;
    j["peak_host_bytes"] = pr.peak_host_bytes;
    j["host_budget"] = *budgets.host;
    j["host_peak_bytes"] = plan.host_peak_bytes;
    j["host_streamed"] = plan.host_streamed;
    j["outputs_written"] = o.outputs;
    j["verify"] = {{"mode", o.verify},   {"checked", v.checked},
                   {"failed", v.failed}, {"max_abs_error", v.max_abs_error},
                   {"ok", v.ok()},       {"first_failure", v.first_failure}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{} on {} ({} policy): {:.3f} s total, {:.3f} s compute\n", name, profile.name,
               o.policy, r.seconds, r.compute_seconds);
    fmt::print("  {}\n", plan::plan_line(plan));
    fmt::print("  measured peak L1 per core: {} B of {} B; peak DRAM per bank: {} B of {} B\n",
               r.peak_l1_per_core, profile.l1_bank_size(), r.peak_dram_per_bank,
               profile.dram_allocatable());
    fmt::print("  host: planned peak {} B of a {} B budget ({}){}\n", plan.host_peak_bytes,
               *budgets.host, budget_what(),
               plan.host_streamed ? ", tensors streamed chunk by chunk" : "");
    for (size_t i = 0; i < out_shapes.size(); ++i)
      fmt::print("  output {}: {} {}{}\n", i, shape_str(out_shapes[i]), dtype_name(out_dtypes[i]),
                 i < o.outputs.size() ? " -> " + o.outputs[i] : "");
    if (o.verify == "none")
      fmt::print("  verify: skipped\n");
    else
      fmt::print("  verify ({}): {} of {} elements {}, max abs error {:.3g}{}\n", o.verify,
                 v.checked - v.failed, v.checked, v.ok() ? "match" : "match: FAILED",
                 v.max_abs_error, v.ok() ? "" : "\n  first failure: " + v.first_failure);
  }
  return v.ok() ? 0 : 4;
}

int run_plan(const CallOptions& o) {
  plan::CallSpec call = o.to_call();
  device::Profile profile = o.profile();
  // The plan `run` would make: under the same host budget.
  plan::Budgets budgets = o.budgets();
  if (!budgets.host) budgets.host = host_budget::default_budget();
  budgets.host_streaming = true;
  plan::Plan p = plan::choose_plan(call, profile, budgets);
  if (o.json) {
    nlohmann::json j = plan::plan_json(p, profile);
    j["op"] = call.op->name;
    j["device"] = profile.name;
    j["check"] = plan::to_json(p.check, p.device_call, profile);
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} on {}: {}\n", call.op->name, profile.name, plan::plan_line(p));
  if (!p.why.empty()) fmt::print("  requested placement does not fit: {}\n", p.why);
  fmt::print("  host memory for inputs and outputs: {} B; host->device {} B, device->host {} B\n",
             p.host_bytes, p.bytes_to_device, p.bytes_from_device);
  fmt::print("  host: planned peak {} B of a {} B budget{}\n", p.host_peak_bytes, *budgets.host,
             p.host_streamed ? ", tensors streamed chunk by chunk" : "");
  return 0;
}

}  // namespace

void add_run(CLI::App& app, Registry& reg, Keep& keep) {
  auto& o = keep.make<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "run one op call with its data on the emulated device and verify it against a slow "
      "exact reference; exit 3 when it does not fit (strict), 4 when verification fails");
  o.add_to(*sub);
  reg.push_back({sub, [&o] { return run_run(o); }});
  auto& p = keep.make<CallOptions>();
  CLI::App* plan = app.add_subcommand(
      "plan",
      "show the plan the auto policy would choose (placement, chunks, CBs, peaks, traffic) "
      "without running it");
  p.add_to(*plan);
  reg.push_back({plan, [&p] { return run_plan(p); }});
}

}  // namespace oomless::cli
