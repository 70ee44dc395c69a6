// The CLI's op call (oomless query|plan|run OP --shape ... --arg ... --dtype ...
// --l1-budget ...): the input is the argument list, one argument per line. It
// is parsed by the CLI's own options, validated and inferred (every op of the
// table, any shapes and arguments), pre-checked, planned under a 256 MB host
// budget, and run with data when that is small.
#include <CLI/CLI.hpp>

#include "cli/call_options.hpp"
#include "exec/planned.hpp"
#include "exec/runner.hpp"
#include "fuzz_util.hpp"
#include "plan/precheck.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (!cur.empty()) args.push_back(cur);
  if (args.size() > 64) return 0;
  cli::CallOptions o;
  CLI::App app("fuzz");
  o.add_to(app);
  std::vector<std::string> rev(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(rev);
  } catch (const CLI::Error&) {
    return 0;  // the CLI prints CLI11's message and exits 2 (main.cpp)
  }
  // Profiles from files are fuzzed by fuzz_profile; here only the built-in ones.
  if (o.device.find('/') != std::string::npos || o.device.find('.') != std::string::npos) return 0;
  OOMLESS_FUZZ_ACCEPT({
    plan::CallSpec call = o.to_call();
    device::Profile profile = o.profile();
    plan::Budgets budgets = o.budgets();
    plan::QueryResult q = plan::precheck(call, profile);
    const int64_t cap = int64_t{256} << 20;
    if (!budgets.host || *budgets.host > cap) budgets.host = cap;
    budgets.host_streaming = true;
    plan::Plan p = plan::choose_plan(call, profile, budgets);
    // A run holds what the plan says; run the small ones (the kernels too get fuzzed).
    if (p.host_peak_bytes > *budgets.host) __builtin_trap();
    if (!p.host_streamed && p.host_bytes <= (int64_t{64} << 10) && q.fits) {
      std::vector<Tensor> inputs = exec::make_inputs(call, exec::Init::Rand, 1);
      exec::PlannedResult r = exec::run_planned(p, call, inputs, profile);
      (void)r;
    }
  });
  return 0;
}
