// The subcommands. Each file registers its own subcommand(s) with a runner.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "cli/call_options.hpp"

namespace oomless::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using Registry = std::vector<Command>;

// Each add_* keeps its options alive in `keep` and appends its runner.
struct Keep {
  std::vector<std::shared_ptr<void>> objects;
  template <class T>
  T& make() {
    auto p = std::make_shared<T>();
    objects.push_back(p);
    return *p;
  }
};

void add_query(CLI::App& app, Registry& reg, Keep& keep);
void add_run(CLI::App& app, Registry& reg, Keep& keep);
void add_listing(CLI::App& app, Registry& reg, Keep& keep);
void add_sweep(CLI::App& app, Registry& reg, Keep& keep);  // sweep, merge
void add_model(CLI::App& app, Registry& reg, Keep& keep);  // model query, model plan

}  // namespace oomless::cli
