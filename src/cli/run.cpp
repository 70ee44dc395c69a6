#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/npy.hpp"
#include "exec/runner.hpp"
#include "exec/verify.hpp"

namespace oomless::cli {

void RunOptions::add_to(CLI::App& app) {
  call.add_to(app);
  app.add_option("--policy", policy, "strict: honour the placement, fail like TT-NN")
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

int run_run(const RunOptions& o) {
  plan::CallSpec call = o.call.to_call();
  std::string_view name = call.op->name;
  if (o.policy != "strict") fail(name, fmt::format("unknown --policy '{}' (expected strict)", o.policy));
  if (o.verify != "none" && o.verify != "sample" && o.verify != "full")
    fail(name, fmt::format("unknown --verify '{}' (expected none, sample or full)", o.verify));
  device::Profile profile = o.call.profile();
  std::vector<Tensor> inputs;
  if (!o.inputs.empty()) {
    if (o.inputs.size() != call.inputs.size() && !call.inputs.empty())
      fail(name, fmt::format("{} --input files for {} --shape inputs", o.inputs.size(), call.inputs.size()));
    bool shapes_given = !call.inputs.empty();
    for (size_t i = 0; i < o.inputs.size(); ++i) {
      Tensor t = read_npy(o.inputs[i]);
      if (shapes_given && t.shape() != call.inputs[i].shape)
        fail(name, fmt::format("--input {} has shape {}, but --shape says {}", o.inputs[i],
                               shape_str(t.shape()), shape_str(call.inputs[i].shape)));
      if (!shapes_given) call.inputs.push_back({t.shape(), call.dtype});
      inputs.push_back(t.to(exec::host_dtype(call.dtype)));
    }
  } else {
    inputs = exec::make_inputs(call, exec::parse_init(o.init), o.seed);
  }
  plan::device_outputs(call);  // validates before anything is placed
  device::Device dev(profile);
  exec::RunResult r;
  std::vector<Tensor> before;
  for (const auto& t : inputs) before.push_back(t.clone());
  try {
    r = exec::run_strict(dev, call, inputs);
  } catch (const device::OutOfMemory& e) {
    if (o.call.json) {
      nlohmann::json j = {{"op", name}, {"fits", false}, {"error", e.what()}, {"policy", o.policy}};
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{} on {} ({} policy): does not fit\n{}\n", name, profile.name, o.policy, e.what());
    }
    return 3;
  }
  exec::VerifyResult v;
  if (o.verify != "none") {
    ops::OpCall ref_call{*call.op, before, call.args};
    v = exec::verify_outputs(ref_call, r.outputs, o.verify == "full" ? 0 : o.samples, o.seed);
  }
  for (size_t i = 0; i < o.outputs.size() && i < r.outputs.size(); ++i) write_npy(o.outputs[i], r.outputs[i]);
  if (o.call.json) {
    nlohmann::json j = plan::to_json(r.placement, call, profile);
    j["policy"] = o.policy;
    j["seconds"] = r.seconds;
    j["compute_seconds"] = r.compute_seconds;
    j["peak_l1_per_core"] = r.peak_l1_per_core;
    j["peak_dram_per_bank"] = r.peak_dram_per_bank;
    j["verify"] = {{"mode", o.verify}, {"checked", v.checked}, {"failed", v.failed},
                   {"max_abs_error", v.max_abs_error}, {"ok", v.ok()},
                   {"first_failure", v.first_failure}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{} on {} ({} policy): {:.3f} s total, {:.3f} s compute\n", name, profile.name,
               o.policy, r.seconds, r.compute_seconds);
    fmt::print("  peak L1 per core: {} B of {} B; peak DRAM per bank: {} B of {} B\n",
               r.peak_l1_per_core, profile.l1_size, r.peak_dram_per_bank, profile.dram_bank_size);
    for (size_t i = 0; i < r.outputs.size(); ++i)
      fmt::print("  output {}: {} {}\n", i, shape_str(r.outputs[i].shape()), dtype_name(r.outputs[i].dtype()));
    if (o.verify == "none")
      fmt::print("  verify: skipped\n");
    else
      fmt::print("  verify ({}): {} of {} elements {}, max abs error {:.3g}{}\n", o.verify,
                 v.checked - v.failed, v.checked, v.ok() ? "match" : "match: FAILED",
                 v.max_abs_error, v.ok() ? "" : "\n  first failure: " + v.first_failure);
  }
  return v.ok() ? 0 : 4;
}

}  // namespace oomless::cli
