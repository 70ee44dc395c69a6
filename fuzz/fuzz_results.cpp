// Sweep result files: results.json (oomless merge, --resume) read back and
// written out again as every report, and worker protocol lines.
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "report/engine.hpp"
#include "report/sweep.hpp"
#include "report/writers.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = fuzz_text(data, size);
  OOMLESS_FUZZ_ACCEPT({
    report::SweepRun run = report::parse_results_json(text, "fuzz/results.json");
    std::string csv = report::results_csv(run), txt = report::summary_txt(run);
    std::string md = report::report_md(run), html = report::report_html(run);
    report::SweepRun both = report::combine_runs({run, run}, {"a", "b"});
    (void)both;
  });
  return 0;
}
