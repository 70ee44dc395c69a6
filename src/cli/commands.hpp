// The subcommands. Each registers its options and runs when selected.
#pragma once
#include <CLI/CLI.hpp>

#include "cli/call_options.hpp"

namespace oomless::cli {

struct RunOptions {
  CallOptions call;
  std::string policy = "strict";
  std::vector<std::string> inputs, outputs;
  std::string verify = "sample";
  int64_t samples = 2000;
  uint64_t seed = 0;
  std::string init = "rand";
  void add_to(CLI::App& app);
};

int run_query(const CallOptions& o);
int run_run(const RunOptions& o);
int run_ops();
int run_devices(bool json);

class Commands {
 public:
  void add_to(CLI::App& app);
  int run() const;

 private:
  CLI::App* query_ = nullptr;
  CLI::App* run_ = nullptr;
  CLI::App* ops_ = nullptr;
  CLI::App* devices_ = nullptr;
  CallOptions query_opts_;
  RunOptions run_opts_;
  bool devices_json_ = false;
};

}  // namespace oomless::cli
