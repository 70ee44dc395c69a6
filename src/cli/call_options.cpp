#include "cli/call_options.hpp"

#include "core/error.hpp"

namespace oomless::cli {

std::string format_option_help() {
  std::string h =
      "the tt-metal version whose out-of-memory messages to print (default: the device "
      "profile's, mid-2025 for the built-in ones):";
  for (const auto& [name, about] : device::message_format_names())
    h += "\n  " + name + ": " + about;
  return h + "\n  append +xy-ranges or +dash-ranges to pick the core-range words";
}

void CallOptions::add_to(CLI::App& app) {
  app.add_option("op", op, "operator: a seed name (add, softmax, maxpool2d, ...) or an aten name")
      ->required();
  app.add_option("--shape,-s", shapes,
                 "shape of one tensor input as the device sees it, e.g. "
                 "1,2176,3840,3 (repeat per input)");
  app.add_option("--arg,-a", args,
                 "op argument name=value, e.g. dim=-1 or sizes=96,96 (repeatable)");
  app.add_option("--dtype", dtype, "bf16 | f32 | bfp8 (bfloat8_b, device only)")
      ->capture_default_str();
  app.add_option("--layout", layout, "tile | row_major")->capture_default_str();
  app.add_option("--memory", memory, "where inputs are placed: l1 | dram")->capture_default_str();
  app.add_option("--out-memory", out_memory, "where outputs go: l1 | dram (default: as the input)");
  app.add_option("--device", device, "device profile name or a JSON file")->capture_default_str();
  app.add_option("--l1-budget", l1_budget,
                 "cap on L1 over all banks, e.g. 1MB (each bank gets budget / banks)");
  app.add_option("--dram-budget", dram_budget, "cap on DRAM over all banks, e.g. 64MB");
  app.add_option("--host-budget", host_budget, "cap on host memory for inputs and outputs");
  app.add_option("--tt-metal-format", message_format, format_option_help());
  app.add_flag("--json", json, "print one JSON object");
}

plan::CallSpec CallOptions::to_call() const {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  std::string_view name = c.op->name;
  c.dtype = parse_dtype(dtype, name);
  if (c.dtype != DType::F32 && c.dtype != DType::BF16 && c.dtype != DType::BFP8_B)
    fail(name, "--dtype must be bf16, f32 or bfp8, got '" + dtype + "'");
  c.layout = parse_layout(layout, name);
  if (c.dtype == DType::BFP8_B && c.layout != Layout::Tile)
    fail(name, "bfloat8_b needs --layout tile");
  c.in_memory = device::parse_buffer_type(memory, name);
  if (!out_memory.empty()) c.out_memory = device::parse_buffer_type(out_memory, name);
  for (const auto& s : shapes) c.inputs.push_back({parse_shape(s, name), c.dtype});
  c.args = ops::parse_args(name, c.op->args, args);
  return c;
}

plan::Budgets CallOptions::budgets() const {
  plan::Budgets b;
  if (!l1_budget.empty()) b.l1 = plan::parse_bytes(l1_budget, "--l1-budget");
  if (!dram_budget.empty()) b.dram = plan::parse_bytes(dram_budget, "--dram-budget");
  if (!host_budget.empty()) b.host = plan::parse_bytes(host_budget, "--host-budget");
  return b;
}

device::Profile CallOptions::profile() const {
  return plan::apply_budgets(
      device::with_message_format(device::load_profile(device), message_format), budgets());
}

}  // namespace oomless::cli
