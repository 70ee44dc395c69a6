#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/npy.hpp"
#include "exec/planned.hpp"
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

std::vector<Tensor> load_inputs(plan::CallSpec& call, const RunOptions& o) {
  std::string_view name = call.op->name;
  if (o.inputs.empty()) return exec::make_inputs(call, exec::parse_init(o.init), o.seed);
  bool shapes_given = !call.inputs.empty();
  if (shapes_given && o.inputs.size() != call.inputs.size())
    fail(name, fmt::format("{} --input files for {} --shape inputs", o.inputs.size(),
                           call.inputs.size()));
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    Tensor t = read_npy(o.inputs[i]);
    if (shapes_given && t.shape() != call.inputs[i].shape)
      fail(name, fmt::format("--input {} has shape {}, but --shape says {}", o.inputs[i],
                             shape_str(t.shape()), shape_str(call.inputs[i].shape)));
    if (!shapes_given) call.inputs.push_back({t.shape(), call.dtype});
    inputs.push_back(t.to(exec::host_dtype(call.dtype)));
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
  std::vector<Tensor> inputs = load_inputs(call, o);
  plan::Plan plan;
  if (o.policy == "auto") {
    plan = plan::choose_plan(call, profile, o.call.budgets());
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
  }
  exec::PlannedResult pr = exec::run_planned(plan, call, inputs, profile);
  const exec::RunResult& r = pr.run;
  exec::VerifyResult v;
  if (o.verify != "none") {
    ops::OpCall ref_call{*call.op, inputs, call.args};
    v = exec::verify_outputs(ref_call, r.outputs, o.verify == "full" ? 0 : o.samples, o.seed);
  }
  for (size_t i = 0; i < o.outputs.size() && i < r.outputs.size(); ++i)
    write_npy(o.outputs[i], r.outputs[i]);
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
    for (size_t i = 0; i < r.outputs.size(); ++i)
      fmt::print("  output {}: {} {}\n", i, shape_str(r.outputs[i].shape()),
                 dtype_name(r.outputs[i].dtype()));
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
  plan::Plan p = plan::choose_plan(call, profile, o.budgets());
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
