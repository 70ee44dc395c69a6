#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace fs = std::filesystem;

static std::string write_file(const fs::path& dir, const char* name, const std::string& text) {
  fs::path p = dir / name;
  fs::path tmp = dir / (std::string(".") + name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("sweep", fmt::format("cannot write {}", tmp.string()));
    out << text;
    if (!out.flush()) fail("sweep", fmt::format("cannot write {}", tmp.string()));
  }
  fs::rename(tmp, p);  // readers never see half a report
  return p.string();
}

std::vector<std::string> write_reports(const std::string& dir, const SweepRun& run) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("sweep", fmt::format("cannot create {}: {}", dir, ec.message()));
  return {write_file(dir, "results.json", results_json(run)),
          write_file(dir, "results.csv", results_csv(run)),
          write_file(dir, "summary.txt", summary_txt(run)),
          write_file(dir, "report.md", report_md(run)),
          write_file(dir, "report.html", report_html(run))};
}

}  // namespace oomless::report
