#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "ops/op.hpp"

namespace oomless::cli {

static int run_ops() {
  for (const auto& op : ops::op_table()) {
    std::string args;
    for (const auto& a : op.args) {
      std::string d = std::holds_alternative<std::monostate>(a.default_value)
                          ? (a.required ? "required" : "None")
                          : ops::arg_value_str(a.default_value);
      args += fmt::format("{}{}={}", args.empty() ? "" : " ", a.name, d);
    }
    fmt::print("{:<20} {:<40} {}\n", op.name, op.aten, args);
  }
  return 0;
}

static int run_devices(bool json) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& name : device::builtin_profile_names()) {
    device::Profile p = device::load_profile(name);
    if (json) {
      j.push_back({{"name", p.name},
                   {"description", p.description},
                   {"l1_banks", p.l1_banks},
                   {"l1_bank_size", p.l1_bank_size()},
                   {"dram_banks", p.dram_banks},
                   {"dram_bank_size", p.dram_allocatable()}});
      continue;
    }
    fmt::print("{:<16} L1 {:>3} banks x {:>8} B   DRAM {:>2} banks x {:>10} B   {}\n", p.name,
               p.l1_banks, p.l1_bank_size(), p.dram_banks, p.dram_allocatable(), p.description);
  }
  if (json) fmt::print("{}\n", j.dump(2));
  return 0;
}

void add_listing(CLI::App& app, Registry& reg, Keep& keep) {
  CLI::App* ops = app.add_subcommand("ops", "list the operators, their aten names and arguments");
  reg.push_back({ops, [] { return run_ops(); }});
  auto& json = keep.make<bool>();
  CLI::App* devices = app.add_subcommand("devices", "list the built-in device profiles");
  devices->add_flag("--json", json, "print JSON");
  reg.push_back({devices, [&json] { return run_devices(json); }});
}

}  // namespace oomless::cli
