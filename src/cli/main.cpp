// oomless: an exact model of Tenstorrent device memory and a runtime for the
// seed's 46 operators. Exit status: 0 ok, 2 bad arguments, 3 out of device memory,
// 4 verification failed, 5 out of host memory, 130 interrupted.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  using namespace oomless;
  // A model run makes thousands of short parallel regions; libgomp's threads
  // spin between them, and on a shared machine spinning threads cost a run ten
  // times its time (YOLOv12n 640: 36 s against 2.2 s). libgomp reads its wait
  // policy when it loads, so the run re-executes itself with passive waiting.
  if (argc > 2 && std::string_view(argv[1]) == "model" && std::string_view(argv[2]) == "run" &&
      !std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
  }
  CLI::App app{"oomless: Tenstorrent device-memory model and out-of-memory-free op runtime"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  cli::Registry reg;
  cli::Keep keep;
  cli::add_query(app, reg, keep);
  cli::add_run(app, reg, keep);
  cli::add_sweep(app, reg, keep);
  cli::add_model(app, reg, keep);
  cli::add_listing(app, reg, keep);
  cli::add_explain(app, reg, keep);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    for (const auto& c : reg)
      if (c.app->parsed()) return c.run();
    return 2;
  } catch (const InvalidArgument& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const HostOutOfMemory& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 5;
  } catch (const Interrupted& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 130;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "error: host out of memory (an allocation failed)\n");
    return 5;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
