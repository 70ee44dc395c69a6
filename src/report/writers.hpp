// The five reports of a results directory, one writer per file. Each returns
// the file's text so tests can check it without touching the disk.
#pragma once
#include <string>
#include <vector>

#include "report/result.hpp"

namespace oomless::report {

// results.json: {"meta": {...}, "cases": [one record per case and policy]}.
std::string results_json(const SweepRun& run);
SweepRun parse_results_json(const std::string& text, const std::string& origin);
SweepRun read_results_json(const std::string& path);

// results.csv: the same records, flat (lists joined, one header row).
std::vector<std::string> csv_columns();
std::string results_csv(const SweepRun& run);

// summary.txt: the seed report's layout with true counts and padded sizes.
std::string summary_txt(const SweepRun& run);

// report.md: GitHub tables per operator and per shape.
std::string report_md(const SweepRun& run);

// report.html: one self-contained page with inline SVG charts.
std::string report_html(const SweepRun& run);

// Writes all five into `dir` (created if needed); returns the paths written.
std::vector<std::string> write_reports(const std::string& dir, const SweepRun& run);

}  // namespace oomless::report
