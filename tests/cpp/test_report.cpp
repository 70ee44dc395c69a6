// The report writers on a small synthetic result set, and the sweep helpers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "report/aggregate.hpp"
#include "report/sweep.hpp"
#include "report/writers.hpp"

using namespace oomless;
using namespace oomless::report;

namespace {

CaseResult make(int64_t seq, const std::string& op, Shape given, Shape placed,
                const std::string& status, int64_t bytes, bool seed_run = true,
                const std::string& policy = "strict") {
  CaseResult r;
  r.seq = seq;
  r.op = op;
  r.id = op + "/" + std::to_string(seq);
  r.suite = "synthetic";
  r.aten = "aten." + op + ".default";
  r.case_index = seq;
  r.shapes_as_given = {given};
  r.shapes = {placed};
  r.dtype = "bf16";
  r.layout = "tile";
  r.memory = "l1";
  r.ran_in_seed_run = seed_run;
  r.device = "wormhole_b0";
  r.policy = policy;
  r.mode = "query";
  r.status = status;
  r.bytes_requested = r.largest_buffer_bytes = bytes;
  r.logical_bytes = bytes / 4;
  r.bytes_per_bank = bytes / 64;
  r.bank_size = 1400032;
  r.banks = 64;
  r.strategy = "as requested";
  r.seconds = 0.001 * static_cast<double>(seq + 1);
  r.git_revision = "abc1234";
  r.timestamp = "2025-01-01T00:00:00Z";
  if (status == "PASS") {
    r.pass_kind = "direct";
  } else if (status == "FAIL_ASSERT_EXCEPTION") {
    r.message = "[softmax] dim, \"quoted\"\nsecond line";
  } else {
    r.message =
        "Out of Memory: Not enough space to allocate 534773760 B L1 buffer across 64 "
        "banks, where each bank needs to store 8355840 B";
    r.failed_allocation = "input 0 [1,2176,3840,3]";
  }
  return r;
}

SweepRun synthetic() {
  SweepRun run;
  run.meta.suite = "synthetic";
  run.meta.suite_file = "suites/synthetic.json";
  run.meta.device = "wormhole_b0";
  run.meta.mode = "query";
  run.meta.policies = {"strict"};
  run.meta.suite_cases = 5;
  run.meta.l1_banks = 64;
  run.meta.l1_bank_size = 1400032;
  run.meta.dram_banks = 12;
  run.meta.dram_bank_size = 1073741792;
  run.meta.git_revision = "abc1234";
  run.meta.started = run.meta.finished = "2025-01-01T00:00:00Z";
  run.results = {
      make(0, "add", {1, 3, 2176, 3840}, {1, 2176, 3840, 3}, "FAIL_L1_OUT_OF_MEM", 534773760),
      // The same shape listed twice (as the seed's add list does): two cases, each once.
      make(1, "add", {1, 3, 2176, 3840}, {1, 2176, 3840, 3}, "FAIL_L1_OUT_OF_MEM", 534773760),
      make(2, "add", {1, 96, 34, 60}, {1, 34, 60, 96}, "PASS", 393216, false),
      make(3, "softmax", {1, 12, 8160, 8160}, {1, 8160, 8160, 12}, "FAIL_ASSERT_EXCEPTION", 0),
      make(4, "softmax", {1, 96, 34, 60}, {1, 34, 60, 96}, "FAIL_CB_OUT_OF_MEM", 393216, false),
  };
  return run;
}

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> f;
  std::string cur;
  bool q = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (q) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        q = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      q = true;
    } else if (c == ',') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  f.push_back(cur);
  return f;
}

// Splits CSV text into records (a quoted field may hold a line break).
std::vector<std::string> csv_records(const std::string& text) {
  std::vector<std::string> recs;
  std::string cur;
  bool q = false;
  for (char c : text) {
    if (c == '"') q = !q;
    if (c == '\n' && !q) {
      recs.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) recs.push_back(cur);
  return recs;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Report, JsonRoundTrip) {
  SweepRun run = synthetic();
  run.results[2].max_abs_error = 0.0078125;
  run.results[2].verify_checked = 2000;
  std::string text = results_json(run);
  SweepRun back = parse_results_json(text, "test");
  ASSERT_EQ(back.results.size(), run.results.size());
  EXPECT_EQ(results_json(back), text);
  EXPECT_EQ(back.meta.l1_bank_size, 1400032);
  EXPECT_EQ(back.results[0].message, run.results[0].message);
  EXPECT_EQ(back.results[0].shapes, run.results[0].shapes);
  EXPECT_EQ(back.results[3].message, run.results[3].message);
  ASSERT_TRUE(back.results[2].max_abs_error.has_value());
  EXPECT_DOUBLE_EQ(*back.results[2].max_abs_error, 0.0078125);
  EXPECT_FALSE(back.results[0].max_abs_error.has_value());
  auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["cases"][2]["message"].is_null());
  EXPECT_EQ(j["cases"][0]["status"], "FAIL_L1_OUT_OF_MEM");
  EXPECT_EQ(j["cases"][0]["bytes_requested"], 534773760);
}

TEST(Report, JsonRejectsOtherFiles) {
  EXPECT_THROW(parse_results_json("{\"not\": 1}", "x"), InvalidArgument);
  EXPECT_THROW(parse_results_json("nope", "x"), InvalidArgument);
}

TEST(Report, CsvHeaderAndRows) {
  SweepRun run = synthetic();
  std::string text = results_csv(run);
  auto recs = csv_records(text);
  ASSERT_EQ(recs.size(), 1 + run.results.size());
  auto header = csv_fields(recs[0]);
  EXPECT_EQ(header, csv_columns());
  for (size_t i = 1; i < recs.size(); ++i) EXPECT_EQ(csv_fields(recs[i]).size(), header.size());
  auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  auto row0 = csv_fields(recs[1]);
  EXPECT_EQ(row0[col("id")], "add/0");
  EXPECT_EQ(row0[col("status")], "FAIL_L1_OUT_OF_MEM");
  EXPECT_EQ(row0[col("bytes_requested")], "534773760");
  EXPECT_EQ(row0[col("shapes")], "[1,2176,3840,3]");
  // Commas, quotes and a line break survive quoting.
  EXPECT_EQ(csv_fields(recs[4])[col("message")], run.results[3].message);
}

TEST(Report, SummaryCountsEachCaseOnce) {
  SweepRun run = synthetic();
  Aggregate a = aggregate(run.results, run.meta);
  EXPECT_EQ(a.strict_total.cases, 5);
  EXPECT_EQ(a.strict_total.oom(), 3);
  EXPECT_EQ(a.strict_total.pass(), 1);
  EXPECT_EQ(a.strict_total.count("FAIL_ASSERT_EXCEPTION"), 1);
  EXPECT_EQ(a.strict_seed_run.cases, 3);
  EXPECT_EQ(a.strict_seed_run.oom(), 2);
  ASSERT_EQ(a.ops.size(), 2u);
  EXPECT_EQ(a.ops[0].op, "add");
  EXPECT_EQ(a.ops[0].strict.oom(), 2);
  ASSERT_NE(a.ops[0].worst, nullptr);
  EXPECT_EQ(a.ops[0].worst->bytes_requested, 534773760);
  EXPECT_FALSE(a.has_auto);

  std::string s = summary_txt(run);
  EXPECT_NE(s.find("TOTAL OOM CASES: 3 (each counted once; 2 among the seed run's cases)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("2 of 2 operators have at least one out-of-memory case"), std::string::npos);
  EXPECT_NE(s.find("n/a (no auto run)"), std::string::npos);
  EXPECT_NE(s.find("510.0 MiB"), std::string::npos);  // padded, not the unpadded 47.8 MiB
  EXPECT_NE(s.find("MOST PROBLEMATIC SHAPES"), std::string::npos);
  EXPECT_NE(s.find("MEMORY ANALYSIS"), std::string::npos);
  EXPECT_NE(s.find("RECOMMENDATIONS"), std::string::npos);
  // Status table rows: strict (all) and strict (seed run).
  EXPECT_NE(s.find("FAIL_L1_OUT_OF_MEM      |            2 |                 2 |"),
            std::string::npos)
      << s;
}

TEST(Report, BeforeAfterWithAnAutoRun) {
  SweepRun run = synthetic();
  run.meta.policies = {"strict", "auto"};
  size_t n = run.results.size();
  for (size_t i = 0; i < n; ++i) {
    CaseResult r = run.results[i];
    r.policy = "auto";
    r.status = "PASS";
    r.message.clear();
    r.pass_kind = "re-placed";
    run.results.push_back(r);
  }
  Aggregate a = aggregate(run.results, run.meta);
  EXPECT_TRUE(a.has_auto);
  EXPECT_EQ(a.strict_total.cases, 5);
  EXPECT_EQ(a.auto_total.pass(), 5);
  std::string s = summary_txt(run);
  EXPECT_NE(s.find("5/5 PASS"), std::string::npos);
  EXPECT_EQ(s.find("planner not built yet"), std::string::npos);
  std::string html = report_html(run);
  EXPECT_NE(html.find("Left half strict, right half auto"), std::string::npos);
}

TEST(Report, MarkdownAndHtml) {
  SweepRun run = synthetic();
  std::string md = report_md(run);
  EXPECT_NE(md.find("## Per operator"), std::string::npos);
  EXPECT_NE(md.find("## Per shape"), std::string::npos);
  EXPECT_NE(md.find("| add | `aten.add.default` | 3 | 1 | 2 | 0 | 0 | 0 | 2/2 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("`[1,3,2176,3840]`"), std::string::npos);
  std::string html = report_html(run);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* id : {"chart-grid", "chart-bytes", "chart-time"})
    EXPECT_NE(html.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_EQ(count_of(html, "<svg"), 3u);
  EXPECT_EQ(count_of(html, "<circle"), run.results.size());
  // Self-contained: the only URLs are the SVG namespace.
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(count_of(html, "http://"), count_of(html, "http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("\"quoted\""), std::string::npos);  // escaped in tooltips
}

TEST(Report, ShardAndSizeParsing) {
  EXPECT_EQ(parse_shard("0/2"), (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(parse_shard("3/4"), (std::pair<int64_t, int64_t>{3, 4}));
  EXPECT_THROW(parse_shard("2/2"), InvalidArgument);
  EXPECT_THROW(parse_shard("1"), InvalidArgument);
  EXPECT_THROW(parse_shard("a/b"), InvalidArgument);
  EXPECT_EQ(parse_size("1000", "x"), 1000);
  EXPECT_EQ(parse_size("64M", "x"), 64 << 20);
  EXPECT_EQ(parse_size("1.5GiB", "x"), 1536LL << 20);
  EXPECT_EQ(parse_size("2kb", "x"), 2048);
  EXPECT_THROW(parse_size("lots", "x"), InvalidArgument);
}

TEST(Report, HumanBytesAndGrouping) {
  EXPECT_EQ(human_bytes(534773760), "510.0 MiB");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(grouped(534773760), "534,773,760");
  EXPECT_EQ(grouped(12), "12");
}
