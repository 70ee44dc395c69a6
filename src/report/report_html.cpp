// report.html: one self-contained page (no scripts, no network) with three
// inline SVG charts: an operator x shape grid coloured by status (strict | auto
// halves), bytes per bank against the bank size for each shape, and the time of
// every case. Each mark has a <title> tooltip with the case's details.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "report/aggregate.hpp"
#include "report/writers.hpp"

namespace oomless::report {

namespace {

std::string esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

int severity(std::string_view s) {
  if (s == "FAIL_CRASH_HANG") return 4;
  if (is_oom(s)) return 3;
  if (s == "FAIL_ASSERT_EXCEPTION") return 2;
  if (s == "PASS") return 1;
  return 0;
}

// The worst status among cases, with how many there were.
struct Cell {
  std::string status;
  int n = 0;
  std::string detail;
  void add(const CaseResult& r) {
    ++n;
    if (severity(r.status) > severity(status)) {
      status = r.status;
      detail = r.message.empty() ? r.pass_kind : r.message;
    }
  }
};

const char* kStyle = R"(
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#59636e}.scroll{overflow-x:auto;border:1px solid #d1d9e0;padding:4px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d1d9e0;padding:3px 8px;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg text{font:10px sans-serif;fill:#1f2328}svg .axis{stroke:#59636e;stroke-width:1}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .limit{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 3}
svg .dram{stroke:#8250df;stroke-width:1.5;stroke-dasharray:2 3}
)";

std::string legend(const Aggregate& a) {
  std::string s = "<p class=\"legend\">";
  for (const auto& st : a.statuses)
    s += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", status_colour(st), st);
  return s + "</p>\n";
}

std::string grid_chart(const Aggregate& a) {
  const int cell = 10, left = 130, top = 120;
  int cols = static_cast<int>(a.shapes.size()), rows = static_cast<int>(a.ops.size());
  int w = left + cols * cell + 10, h = top + rows * cell + 10;
  std::map<std::string, int> col;
  for (int i = 0; i < cols; ++i) col[a.shapes[i].shape] = i;
  std::map<std::string, int> row;
  for (int i = 0; i < rows; ++i) row[a.ops[i].op] = i;
  std::map<std::pair<int, int>, std::pair<Cell, Cell>> cells;  // (row, col) -> strict, auto
  for (const auto* r : a.strict) cells[{row[r->op], col[r->shape_key()]}].first.add(*r);
  for (const auto* r : a.autop) cells[{row[r->op], col[r->shape_key()]}].second.add(*r);
  std::string s = fmt::format(
      "<svg id=\"chart-grid\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"operator by shape status grid\">\n",
      w, h, w, h);
  for (int i = 0; i < rows; ++i)
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 4,
                     top + i * cell + cell - 2, esc(a.ops[i].op));
  for (int j = 0; j < cols; ++j) {
    int x = left + j * cell + cell - 3;
    s += fmt::format("<text transform=\"translate({},{}) rotate(-90)\">{}</text>\n", x, top - 4,
                     esc(a.shapes[j].shape));
  }
  for (const auto& [rc, pair] : cells) {
    const auto& [st, au] = pair;
    int x = left + rc.second * cell, y = top + rc.first * cell;
    std::string tip =
        fmt::format("{} {}: strict {} ({} case{}){}", a.ops[rc.first].op, a.shapes[rc.second].shape,
                    st.status.empty() ? "-" : st.status, st.n, st.n == 1 ? "" : "s",
                    st.detail.empty() ? "" : " - " + st.detail);
    if (a.has_auto)
      tip += fmt::format("; auto {}{}", au.status.empty() ? "-" : au.status,
                         au.detail.empty() ? "" : " - " + au.detail);
    if (a.has_auto) {
      s += fmt::format(
          "<g><title>{}</title><rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
          "fill=\"{}\"/><rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
          "fill=\"{}\"/></g>\n",
          esc(tip), x, y, cell / 2, cell - 1, status_colour(st.status), x + cell / 2, y,
          cell / 2 - 1, cell - 1, status_colour(au.status));
    } else {
      s += fmt::format(
          "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
          "<title>{}</title></rect>\n",
          x, y, cell - 1, cell - 1, status_colour(st.status), esc(tip));
    }
  }
  return s + "</svg>\n";
}

// Log2 scale from 1 KiB up to the largest value.
struct LogScale {
  double lo, hi;
  int px;
  double operator()(double v) const {
    double l = std::log(std::max(v, lo)), a = std::log(lo), b = std::log(hi);
    return px * (l - a) / (b - a);
  }
};

std::string bytes_chart(const Aggregate& a) {
  const int cell = 10, left = 70, top = 20, plot_h = 260;
  int cols = static_cast<int>(a.shapes.size());
  int w = left + cols * cell + 150, h = top + plot_h + 120;
  double mx = std::max<double>(static_cast<double>(a.l1_bank_size), 1024.0);
  for (const auto& s : a.shapes) mx = std::max(mx, static_cast<double>(s.bytes_per_bank));
  mx = std::max(mx, static_cast<double>(a.dram_bank_size));
  LogScale y{1024.0, mx * 1.5, plot_h};
  auto Y = [&](double v) { return top + plot_h - y(v); };
  std::string s = fmt::format(
      "<svg id=\"chart-bytes\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"bytes per bank against the bank size\">\n",
      w, h, w, h);
  for (double t = 1024.0; t <= mx * 1.5; t *= 32.0) {
    s += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        left, left + cols * cell, Y(t), Y(t), left - 4, Y(t) + 3,
        esc(human_bytes(static_cast<int64_t>(t))));
  }
  s += fmt::format("<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\n", left, left,
                   top, top + plot_h);
  for (int j = 0; j < cols; ++j) {
    const ShapeRow& r = a.shapes[j];
    double v = static_cast<double>(std::max<int64_t>(r.bytes_per_bank, 1));
    double yv = Y(v);
    bool fits = r.bytes_per_bank <= a.l1_bank_size;
    s += fmt::format(
        "<rect class=\"bar\" x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"{}\">"
        "<title>{}: {} B per bank (largest case), bank {} B; {} of {} strict cases PASS</title>"
        "</rect>\n",
        left + j * cell, yv, cell - 1, std::max(top + plot_h - yv, 1.0),
        fits ? "#2da44e" : "#cf222e", esc(r.shape), grouped(r.bytes_per_bank),
        grouped(a.l1_bank_size), r.strict.pass(), r.strict.cases);
    s += fmt::format(
        "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"end\">{}</text>\n",
        left + j * cell + cell - 2, top + plot_h + 6, esc(r.shape));
  }
  double yl = Y(static_cast<double>(a.l1_bank_size)), yd = Y(static_cast<double>(a.dram_bank_size));
  s += fmt::format(
      "<line class=\"limit\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
      "<text x=\"{}\" y=\"{:.1f}\">L1 bank {} B</text>\n",
      left, left + cols * cell, yl, yl, left + cols * cell + 4, yl + 3, grouped(a.l1_bank_size));
  s += fmt::format(
      "<line class=\"dram\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
      "<text x=\"{}\" y=\"{:.1f}\">DRAM bank {}</text>\n",
      left, left + cols * cell, yd, yd, left + cols * cell + 4, yd + 3,
      esc(human_bytes(a.dram_bank_size)));
  return s + "</svg>\n";
}

std::string time_chart(const std::vector<CaseResult>& results) {
  const int left = 60, top = 15, plot_w = 1000, plot_h = 240;
  int w = left + plot_w + 20, h = top + plot_h + 40;
  double lo = 1e9, hi = 0;
  for (const auto& r : results) {
    lo = std::min(lo, std::max(r.seconds, 1e-7));
    hi = std::max(hi, std::max(r.seconds, 1e-7));
  }
  if (results.empty()) {
    lo = 1e-6;
    hi = 1;
  }
  double dlo = std::pow(10.0, std::floor(std::log10(lo))),
         dhi = std::pow(10.0, std::ceil(std::log10(hi)));
  if (dhi <= dlo) dhi = dlo * 10;
  auto Y = [&](double v) {
    double t =
        (std::log10(std::max(v, dlo)) - std::log10(dlo)) / (std::log10(dhi) - std::log10(dlo));
    return top + plot_h - t * plot_h;
  };
  std::string s = fmt::format(
      "<svg id=\"chart-time\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"time per case\">\n",
      w, h, w, h);
  for (double t = dlo; t <= dhi * 1.001; t *= 10) {
    std::string label = t >= 1      ? fmt::format("{:g} s", t)
                        : t >= 1e-3 ? fmt::format("{:g} ms", t * 1e3)
                                    : fmt::format("{:g} us", t * 1e6);
    s += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        left, left + plot_w, Y(t), Y(t), left - 4, Y(t) + 3, label);
  }
  s += fmt::format(
      "<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>"
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cases in suite order ({})</text>\n",
      left, left + plot_w, top + plot_h, top + plot_h, left + plot_w / 2, top + plot_h + 28,
      results.size());
  size_t n = results.size();
  for (size_t i = 0; i < n; ++i) {
    const auto& r = results[i];
    double x = left + (n > 1 ? plot_w * static_cast<double>(i) / static_cast<double>(n - 1)
                             : plot_w / 2.0);
    s += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\"><title>{} ({}) {}: "
        "{:.4f} s, {}</title></circle>\n",
        x, Y(r.seconds), status_colour(r.status), esc(r.id), esc(r.policy),
        esc(r.shapes.empty() ? r.shape_key() : shapes_str(r.shapes)), r.seconds, esc(r.status));
  }
  return s + "</svg>\n";
}

}  // namespace

std::string report_html(const SweepRun& run) {
  const SweepMeta& m = run.meta;
  Aggregate a = aggregate(run.results, m);
  std::string title = fmt::format("oomless sweep: {} on {}", m.suite, m.device);
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
      "<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
      esc(title), kStyle, esc(title));
  std::string pol = join(m.policies, ", ");
  out += fmt::format(
      "<p class=\"meta\">Generated {} from git {}; mode {}; policies {}; {} L1 banks x {} B, {} "
      "DRAM banks x {} B. Every case counted once; sizes padded as the device stores them.</p>\n",
      esc(m.finished), esc(m.git_revision), esc(m.mode), esc(pol), m.l1_banks,
      grouped(m.l1_bank_size), m.dram_banks, grouped(m.dram_bank_size));

  out +=
      "<h2>Totals</h2>\n<table id=\"totals\"><tr><th class=\"l\">status</th><th>strict (all)</th>"
      "<th>strict (seed run)</th><th>auto</th></tr>\n";
  for (const auto& st : a.statuses)
    out += fmt::format("<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", st,
                       a.strict_total.count(st), a.strict_seed_run.count(st),
                       a.has_auto ? std::to_string(a.auto_total.count(st)) : esc(a.no_auto));
  out +=
      fmt::format("<tr><th class=\"l\">total</th><th>{}</th><th>{}</th><th>{}</th></tr></table>\n",
                  a.strict_total.cases, a.strict_seed_run.cases,
                  a.has_auto ? std::to_string(a.auto_total.cases) : esc(a.no_auto));

  out += fmt::format(
      "<h2>Operator x shape</h2>\n<p>Rows: operators; columns: the first input "
      "shape as the test lists it, largest device buffer first. {}</p>\n",
      a.has_auto ? "Left half strict, right half auto."
                 : "Strict policy (auto: " + esc(a.no_auto) + ").");
  out += legend(a) + "<div class=\"scroll\">" + grid_chart(a) + "</div>\n";
  out +=
      "<h2>Bytes per bank against the bank size</h2>\n<p>Per shape, the per-bank (per-core) "
      "bytes of the largest case's device buffers in the requested memory, log scale. Dashed: "
      "the allocatable L1 bank and a DRAM bank. Red bars cannot fit interleaved L1.</p>\n";
  out += "<div class=\"scroll\">" + bytes_chart(a) + "</div>\n";
  out +=
      "<h2>Time per case</h2>\n<p>Wall time of each case (pre-check, and in run mode the data, "
      "kernel and verification), log scale.</p>\n";
  out += "<div class=\"scroll\">" + time_chart(run.results) + "</div>\n";

  out +=
      "<h2>Per operator</h2>\n<table id=\"ops\"><tr><th class=\"l\">operator</th><th>cases</th>"
      "<th>PASS</th><th>L1 OOM</th><th>DRAM OOM</th><th>CB OOM</th><th>ASSERT</th>"
      "<th>OOM in seed run</th><th class=\"l\">auto</th></tr>\n";
  for (const auto& o : a.ops) {
    const Tally& t = o.strict;
    out += fmt::format(
        "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}/{}</td><td class=\"l\">{}</td></tr>\n",
        esc(o.op), t.cases, t.pass(), t.count("FAIL_L1_OUT_OF_MEM"),
        t.count("FAIL_DRAM_OUT_OF_MEM"), t.count("FAIL_CB_OUT_OF_MEM"),
        t.count("FAIL_ASSERT_EXCEPTION"), o.strict_seed_run.oom(), o.strict_seed_run.cases,
        a.has_auto ? fmt::format("{}/{} PASS", o.autop.pass(), o.autop.cases) : esc(a.no_auto));
  }
  // Marks each chart with its rendered size, so a headless browser can prove
  // the charts were laid out and painted (tests/python/test_html.py).
  out +=
      "</table>\n<script>window.addEventListener('load',function(){"
      "document.querySelectorAll('svg').forEach(function(s){var b=s.getBBox();"
      "s.setAttribute('data-rendered',Math.round(b.width)+'x'+Math.round(b.height));"
      "s.setAttribute('data-marks',s.querySelectorAll('rect,circle').length);});});"
      "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace oomless::report
