// summary.txt: the seed report's sections (operators with OOM, worst shape, max
// memory, most problematic shapes, memory categories, recommendations), but each
// case counted once, sizes as the device pads them, and a before/after column.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "report/aggregate.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace {

const std::string kRule(80, '=');

std::string centred(const std::string& s) {
  size_t pad = s.size() < 80 ? (80 - s.size()) / 2 : 0;
  return std::string(pad, ' ') + s;
}

void section(std::string& out, const std::string& title) {
  out += fmt::format("\n{}\n{}\n{}\n\n", kRule, centred(title), kRule);
}

std::string pct(int64_t n, int64_t d) {
  return d ? fmt::format("{:.1f}%", 100.0 * n / d) : "-";
}

// The auto column of an operator or total: "40/40 PASS" or why there is none.
std::string after(const Tally& t, const Aggregate& a) {
  if (!a.has_auto) return a.no_auto;
  return fmt::format("{}/{} PASS", t.pass(), t.cases);
}

}  // namespace

std::string summary_txt(const SweepRun& run) {
  const SweepMeta& m = run.meta;
  Aggregate a = aggregate(run.results, m);
  const Tally& st = a.strict_total;
  std::string out;
  out += kRule + "\n" + centred("TT-METAL OUT OF MEMORY (OOM) OPERATORS SUMMARY") + "\n" +
         centred("oomless sweep: every case counted once, sizes as the device pads them") + "\n" +
         kRule + "\n";
  std::string how = how_it_ran(m);
  out += fmt::format("Generated: {} (git {}){}\n", m.finished, m.git_revision,
                     how.empty() ? "" : " by " + how);
  out += fmt::format("Suite: {} ({}), {} of {} cases{}{}\n", m.suite, m.suite_file,
                     a.has_strict ? st.cases : a.auto_total.cases, m.suite_cases,
                     m.filters.empty() ? "" : ", filters: ", join(m.filters, " "));
  if (!m.shards.empty()) out += fmt::format("Shards merged: {}\n", join(m.shards, ", "));
  out += fmt::format("Device: {}: {} L1 banks x {} B allocatable, {} DRAM banks x {} B\n", m.device,
                     m.l1_banks, grouped(m.l1_bank_size), m.dram_banks, grouped(m.dram_bank_size));
  out += fmt::format("Mode: {}   Policies: {}\n",
                     m.mode == "run" ? "run (data + verify)" : "query (pre-check only)",
                     join(m.policies, ", "));
  if (m.mode == "run") {
    // Which PASSes are proven with data and which are plans only (--run-max-bytes).
    for (const auto& [name, cases] :
         {std::pair{"strict", &a.strict}, std::pair{"auto", &a.autop}}) {
      if (cases->empty()) continue;
      int64_t passing = 0, verified = 0, empty = 0;
      for (const auto* r : *cases) {
        if (r->status != "PASS") continue;
        ++passing;
        if (r->mode != "run") continue;
        // A run whose outputs have no elements has nothing to check.
        (r->verify_checked > 0 ? verified : empty) += 1;
      }
      out += fmt::format(
          "Verified ({}): {} of {} passing cases ran with data and matched the reference{}{}\n",
          name, verified, passing,
          empty ? fmt::format(" ({} more ran with empty outputs)", empty) : std::string(),
          verified + empty < passing ? "; the rest were planned only" : "");
    }
  }

  out += fmt::format("\n{:<24}| {:>12} | {:>17} | {}\n", "STATUS", "STRICT (all)",
                     "STRICT (seed run)", "AUTO (after)");
  out += fmt::format("{:-<24}|{:-<14}|{:-<19}|{:-<20}\n", "", "", "", "");
  for (const auto& s : a.statuses)
    out += fmt::format("{:<24}| {:>12} | {:>17} | {}\n", s, st.count(s), a.strict_seed_run.count(s),
                       a.has_auto ? std::to_string(a.auto_total.count(s)) : a.no_auto);
  out += fmt::format("{:<24}| {:>12} | {:>17} | {}\n", "TOTAL", st.cases, a.strict_seed_run.cases,
                     a.has_auto ? std::to_string(a.auto_total.cases) : a.no_auto);

  // Findings.
  int64_t ops_with_oom = 0, ops_total = static_cast<int64_t>(a.ops.size());
  for (const auto& o : a.ops) ops_with_oom += o.strict.oom() > 0;
  const CaseResult* largest = nullptr;
  int64_t on_input = 0, on_output = 0, on_cb = 0, padded_2x = 0, beyond_dram = 0;
  int64_t dram_total = m.dram_banks * m.dram_bank_size;
  for (const auto* r : a.strict) {
    if (!is_oom(r->status)) continue;
    if (!largest || r->bytes_requested > largest->bytes_requested) largest = r;
    // Buffers the op allocates itself (outputs, a composite's intermediates)
    // count with the outputs; CB failures by their status.
    if (r->status == "FAIL_CB_OUT_OF_MEM")
      ++on_cb;
    else if (r->failed_allocation.rfind("input", 0) == 0)
      ++on_input;
    else
      ++on_output;
    if (r->logical_bytes > 0 && r->bytes_requested >= 2 * r->logical_bytes) ++padded_2x;
    if (dram_total > 0 && r->bytes_requested > dram_total) ++beyond_dram;
  }
  section(out, "CRITICAL FINDINGS");
  out += fmt::format("- {} of {} operators have at least one out-of-memory case (strict)\n",
                     ops_with_oom, ops_total);
  out += fmt::format(
      "- {} of {} cases run out of device memory ({}); of the {} cases the seed's\n"
      "  logged run executed, {} do (the seed reported 720 OOM occurrences: each\n"
      "  failure was counted twice)\n",
      st.oom(), st.cases, pct(st.oom(), st.cases), a.strict_seed_run.cases,
      a.strict_seed_run.oom());
  if (largest)
    out += fmt::format("- Largest failing request: {} B ({}) padded, {} {}\n",
                       grouped(largest->bytes_requested), human_bytes(largest->bytes_requested),
                       largest->op, shapes_str(largest->shapes));
  out += fmt::format(
      "- Where they fail: {} placing an input, {} placing an output (or an op's\n"
      "  intermediate), {} in the circular buffers of the program\n",
      on_input, on_output, on_cb);
  out += fmt::format(
      "- The limit is not ~50-100 MB per tensor: an interleaved L1 buffer needs the\n"
      "  same range free in all {} banks of {} B, i.e. at most {} B in total\n",
      m.l1_banks, grouped(m.l1_bank_size), grouped(m.l1_banks * m.l1_bank_size));
  out += fmt::format(
      "- {} OOM cases pad to at least twice their unpadded size (TILE layout pads\n"
      "  the last two dims to 32; NHWC with C=3 pads C to 32)\n",
      padded_2x);
  out += fmt::format(
      "- {} cases are FAIL_ASSERT_EXCEPTION (bad arguments or validation), not memory\n",
      st.count("FAIL_ASSERT_EXCEPTION"));

  // Per operator.
  section(out, "OPERATORS WITH OUT OF MEMORY ISSUES");
  std::vector<const OpRow*> rows;
  for (const auto& o : a.ops) rows.push_back(&o);
  std::stable_sort(rows.begin(), rows.end(), [](const OpRow* x, const OpRow* y) {
    return x->strict.oom() > y->strict.oom();
  });
  bool have_seed = !m.seed_reported_oom.empty();
  out += fmt::format("{:<19}|{:>6} |{:>5} |{:>5} |{:>5} | {:<22}| {:>13} | {:>8} |{} {}\n",
                     "OPERATOR", "CASES", "OOM", "ASRT", "PASS", "WORST SHAPE (placed)",
                     "MAX MEMORY", "SEED RUN", have_seed ? " SEED SAID |" : "", "AUTO (after)");
  out += fmt::format("{:-<19}|{:-<7}|{:-<6}|{:-<6}|{:-<6}|{:-<24}|{:-<15}|{:-<10}|{}{:-<20}\n", "",
                     "", "", "", "", "", "", "", have_seed ? "-----------|" : "", "");
  for (const OpRow* o : rows) {
    std::string worst = "-";
    if (o->worst)
      worst = o->worst->shapes.empty() ? o->worst->shape_key() : shape_str(o->worst->shapes[0]);
    std::string mem = o->worst ? human_bytes(o->worst->bytes_requested) : "-";
    std::string said;
    if (have_seed) {
      auto it = m.seed_reported_oom.find(o->op);
      said = it == m.seed_reported_oom.end() ? " - "
                                             : fmt::format(" {} ({})", it->second, it->second / 2);
      said = fmt::format("{:<10} |", said);
    }
    out += fmt::format("{:<19}|{:>6} |{:>5} |{:>5} |{:>5} | {:<22}| {:>13} | {:>8} |{} {}\n", o->op,
                       o->strict.cases, o->strict.oom(), o->strict.count("FAIL_ASSERT_EXCEPTION"),
                       o->strict.pass(), worst, mem,
                       fmt::format("{}/{}", o->strict_seed_run.oom(), o->strict_seed_run.cases),
                       said, after(o->autop, a));
  }
  out +=
      "\nOOM = FAIL_*_OUT_OF_MEM cases, each counted once; MAX MEMORY = padded bytes the worst\n"
      "case requests (inputs + outputs); SEED RUN = OOM / cases among those the seed's run "
      "executed;\nSEED SAID = the OOM COUNT the seed's summary printed (each failure counted "
      "twice) and, in\nparentheses, half of it: compare with the first number of SEED RUN.\n";

  // Per shape.
  section(out, "MOST PROBLEMATIC SHAPES");
  std::vector<const ShapeRow*> shapes;
  for (const auto& s : a.shapes)
    if (s.strict.oom() > 0) shapes.push_back(&s);
  std::stable_sort(shapes.begin(), shapes.end(), [](const ShapeRow* x, const ShapeRow* y) {
    if (x->strict.oom() != y->strict.oom()) return x->strict.oom() > y->strict.oom();
    return x->largest_buffer_bytes > y->largest_buffer_bytes;
  });
  out += fmt::format("{:<22}| {:>11} | {:>11} | {:>4} | {}\n", "SHAPE (as given)", "PADDED",
                     "UNPADDED", "OOM", "OPERATORS AFFECTED");
  out += fmt::format("{:-<22}|{:-<13}|{:-<13}|{:-<6}|{:-<26}\n", "", "", "", "", "");
  for (size_t i = 0; i < shapes.size() && i < 15; ++i) {
    const ShapeRow& s = *shapes[i];
    std::string opsl;
    opsl = join(std::vector<std::string>(s.ops_oom.begin(),
                                         s.ops_oom.begin() + std::min<size_t>(4, s.ops_oom.size())),
                ", ");
    if (s.ops_oom.size() > 4)
      opsl += fmt::format(" +{} more ({} ops)", s.ops_oom.size() - 4, s.ops_oom.size());
    out += fmt::format("{:<22}| {:>11} | {:>11} | {:>4} | {}\n", s.shape,
                       human_bytes(s.largest_buffer_bytes), human_bytes(s.logical_bytes),
                       s.strict.oom(), opsl);
  }
  out += fmt::format(
      "\n{} distinct shapes, {} with OOM cases. PADDED = largest single device buffer\n"
      "of the shape's cases; UNPADDED = bf16 bytes of the shape as the test lists it.\n",
      a.shapes.size(), shapes.size());

  // Categories.
  section(out, "MEMORY ANALYSIS");
  struct Cat {
    const char* name;
    int64_t lo, hi;
    int64_t n = 0;
    std::vector<std::string> examples;
  };
  const int64_t MiB = 1 << 20;
  Cat cats[] = {{"Critical (>500MiB)", 500 * MiB, INT64_MAX},
                {"High (100-500MiB)", 100 * MiB, 500 * MiB},
                {"Medium (50-100MiB)", 50 * MiB, 100 * MiB},
                {"Low (<50MiB)", 0, 50 * MiB}};
  for (const auto* r : a.strict) {
    if (!is_oom(r->status)) continue;
    for (auto& c : cats)
      if (r->bytes_requested > c.lo && r->bytes_requested <= c.hi) {
        ++c.n;
        std::string ex = human_bytes(r->bytes_requested);
        if (c.examples.size() < 3 &&
            std::find(c.examples.begin(), c.examples.end(), ex) == c.examples.end())
          c.examples.push_back(ex);
        break;
      }
  }
  out += fmt::format("{:<22}| {:>5} | {:>10} | {}\n", "MEMORY CATEGORY", "COUNT", "PERCENTAGE",
                     "EXAMPLES (padded request)");
  out += fmt::format("{:-<22}|{:-<7}|{:-<12}|{:-<28}\n", "", "", "", "");
  for (const auto& c : cats) {
    std::string ex = join(c.examples, ", ");
    out += fmt::format("{:<22}| {:>5} | {:>10} | {}\n", c.name, c.n, pct(c.n, st.oom()), ex);
  }
  out += fmt::format("\nTOTAL OOM CASES: {} (each counted once; {} among the seed run's cases)\n",
                     st.oom(), a.strict_seed_run.oom());

  // Recommendations from the data.
  section(out, "RECOMMENDATIONS");
  int n = 1;
  if (on_input)
    out += fmt::format(
        "{}. {} OOM cases fail while placing an INPUT in interleaved L1, before the op\n"
        "   runs. Place activations in DRAM (TT-NN's default) and stream tiles\n"
        "   through the circular buffers: the auto policy's re-placement.\n",
        n++, on_input);
  if (on_output)
    out += fmt::format(
        "{}. {} cases fit their inputs but not their outputs (or an op's intermediates)\n"
        "   in L1: send outputs to DRAM (--out-memory dram) or chunk the op.\n",
        n++, on_output);
  if (on_cb) {
    std::vector<std::string> cb_ops;
    for (const auto* r : a.strict)
      if (r->status == "FAIL_CB_OUT_OF_MEM" &&
          std::find(cb_ops.begin(), cb_ops.end(), r->op) == cb_ops.end())
        cb_ops.push_back(r->op);
    std::string l = join(cb_ops, ", ");
    out += fmt::format(
        "{}. {} cases overflow the per-core circular buffers ({}): these ops hold a\n"
        "   whole row or block per core; split it (online softmax, halo tiles) or\n"
        "   chunk along an independent axis.\n",
        n++, on_cb, l);
  }
  if (beyond_dram)
    out += fmt::format("{}. {} cases request more than all of DRAM ({}): chunk from host memory.\n",
                       n++, beyond_dram, human_bytes(dram_total));
  if (padded_2x)
    out += fmt::format(
        "{}. {} OOM cases at least double in size from tile padding: keep small-C\n"
        "   tensors NCHW or ROW_MAJOR, or pad C once and reuse it.\n",
        n++, padded_2x);
  if (st.count("FAIL_ASSERT_EXCEPTION"))
    out += fmt::format(
        "{}. {} cases are argument or validation errors, not memory: see their\n"
        "   messages in results.json and the args_note of each case.\n",
        n++, st.count("FAIL_ASSERT_EXCEPTION"));
  out += fmt::format(
      "{}. Pre-check before running: `oomless query` predicts each verdict above with\n"
      "   tt-metal's own message, without allocating anything.\n",
      n++);
  out += fmt::format(
      "\nBefore/after: strict = as TT-NN runs the seed's tests; auto = with the planner: {}\n",
      a.has_auto ? after(a.auto_total, a) : a.no_auto);

  section(out, "FILE LOCATIONS");
  out +=
      "  results.json  - one record per case (status, exact message, padded bytes, peaks, time)\n"
      "  results.csv   - the same, flat\n"
      "  summary.txt   - this summary\n"
      "  report.md     - tables per operator and per shape\n"
      "  report.html   - charts: status grid, bytes per bank vs bank size, time per case\n";
  return out;
}

}  // namespace oomless::report
