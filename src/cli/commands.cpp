#include "cli/commands.hpp"

namespace oomless::cli {

void Commands::add_to(CLI::App& app) {
  query_ = app.add_subcommand(
      "query", "pre-check one op call: replay its device allocations and predict any OOM with "
               "tt-metal's message (allocates nothing, runs nothing)");
  query_opts_.add_to(*query_);
  run_ = app.add_subcommand(
      "run", "run one op call with its data on the emulated device and verify it against a slow "
             "exact reference; exit 3 when it does not fit, 4 when verification fails");
  run_opts_.add_to(*run_);
  ops_ = app.add_subcommand("ops", "list the operators, their aten names and arguments");
  devices_ = app.add_subcommand("devices", "list the built-in device profiles");
  devices_->add_flag("--json", devices_json_, "print JSON");
}

int Commands::run() const {
  if (query_->parsed()) return run_query(query_opts_);
  if (run_->parsed()) return run_run(run_opts_);
  if (ops_->parsed()) return run_ops();
  if (devices_->parsed()) return run_devices(devices_json_);
  return 2;
}

}  // namespace oomless::cli
