// Options shared by every subcommand that describes one op call (query, run,
// plan): declared once, parsed into a plan::CallSpec.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "device/profile.hpp"
#include "plan/planner.hpp"

namespace oomless::cli {

// Help of --tt-metal-format: the format names and what each prints.
std::string format_option_help();

struct CallOptions {
  std::string op;
  std::vector<std::string> shapes;
  std::vector<std::string> args;
  std::string dtype = "bf16";
  std::string layout = "tile";
  std::string memory = "l1";
  std::string out_memory;
  std::string device = device::kDefaultProfile;
  bool json = false;
  std::string l1_budget, dram_budget, host_budget;
  std::string message_format;  // --tt-metal-format (empty: the profile's)

  void add_to(CLI::App& app);
  // Validates everything; throws InvalidArgument naming the op and the bad value.
  plan::CallSpec to_call() const;
  // The device profile with the budgets applied.
  device::Profile profile() const;
  plan::Budgets budgets() const;
};

}  // namespace oomless::cli
