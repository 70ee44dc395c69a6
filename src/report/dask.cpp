// The Dask engine's C++ side: starts python/oomless/dask_sweep.py, which is a
// Dask client, and exchanges JSON lines with it (the setup and the batches in,
// results out as batches finish).
#include <fmt/format.h>
#include <poll.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "report/engine.hpp"
#include "report/proc.hpp"

namespace oomless::report {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct DaskEngine::Impl {
  std::unique_ptr<Child> driver;
  std::string out, err;
  bool err_closed = false;

  // Next line from the driver; nullopt when it ended. Gives up (returns
  // nullopt with `timed_out`) after `timeout` seconds when > 0.
  std::optional<std::string> next_line(double timeout, bool* timed_out = nullptr,
                                       const OnTick* on_tick = nullptr) {
    auto t0 = Clock::now();
    for (;;) {
      if (auto line = take_line(out)) return line;
      if (g_sweep_stop) return std::nullopt;
      int wait_ms = 1000;
      if (timeout > 0) {
        double left = timeout - std::chrono::duration<double>(Clock::now() - t0).count();
        if (left <= 0) {
          if (timed_out) *timed_out = true;
          return std::nullopt;
        }
        wait_ms = std::min(wait_ms, static_cast<int>(left * 1000) + 1);
      }
      pollfd fds[2] = {{driver->out_fd(), POLLIN, 0},
                       {err_closed ? -1 : driver->err_fd(), POLLIN, 0}};
      ::poll(fds, 2, wait_ms);
      if (on_tick && *on_tick) (*on_tick)();
      if (!err_closed) err_closed = !read_available(driver->err_fd(), err);
      if (err.size() > (1 << 16)) err.erase(0, err.size() - (1 << 16));
      if (!read_available(driver->out_fd(), out)) {
        if (auto line = take_line(out)) return line;
        return std::nullopt;
      }
    }
  }
  std::string stderr_tail() {
    driver->kill_now();
    driver->wait();
    if (!err_closed) read_available(driver->err_fd(), err);
    std::string t = err;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    if (t.size() > 2000) t = "..." + t.substr(t.size() - 2000);
    return t;
  }
};

DaskEngine::DaskEngine(const DaskOptions& o) : impl_(std::make_unique<Impl>()), o_(o) {
  std::string where = !o.scheduler.empty() ? o.scheduler : "the scheduler file " + o.scheduler_file;
  std::vector<std::string> argv = {o.python,
                                   o.driver,
                                   "--binary",
                                   o.binary,
                                   "--case-timeout",
                                   fmt::format("{}", o.case_timeout),
                                   "--connect-timeout",
                                   fmt::format("{}", o.connect_timeout),
                                   "--max-workers",
                                   std::to_string(o.max_workers)};
  if (!o.scheduler.empty()) {
    argv.push_back("--scheduler");
    argv.push_back(o.scheduler);
  } else {
    argv.push_back("--scheduler-file");
    argv.push_back(o.scheduler_file);
  }
  impl_->driver = std::make_unique<Child>(argv);
  bool timed_out = false;
  // Importing distributed takes a few seconds on a busy machine.
  auto line = impl_->next_line(o.connect_timeout + 60, &timed_out);
  if (!line) {
    std::string why = timed_out ? "no answer" : impl_->stderr_tail();
    fail("sweep", fmt::format("cannot use Dask at {}: the driver ({} {}) {}", where, o.python,
                              o.driver, why.empty() ? "ended without a word" : why));
  }
  json ev;
  try {
    ev = json::parse(*line);
  } catch (const json::exception&) {
    fail("sweep", fmt::format("the Dask driver said something unexpected: {}", *line));
  }
  if (ev.value("event", "") == "error")
    fail("sweep", fmt::format("cannot use Dask at {}: {}", where, ev.value("message", "")));
  if (ev.value("event", "") != "ready")
    fail("sweep", fmt::format("the Dask driver said something unexpected: {}", *line));
  workers_ = ev.value("workers", int64_t{0});
}

DaskEngine::~DaskEngine() = default;

void DaskEngine::run(const WorkerSetup& setup, const std::vector<WorkItem>& items,
                     const OnResult& on_result, const OnTick& on_tick) {
  Impl& d = *impl_;
  auto batches = plan_batches(items, workers_, o_.batch_size);
  std::string text = to_json(setup).dump() + "\n";
  for (size_t b = 0; b < batches.size(); ++b) {
    json batch = json::array();
    for (size_t i = batches[b].first; i < batches[b].second; ++i)
      batch.push_back(to_json(items[i]));
    text += json{{"batch", b}, {"items", batch}}.dump() + "\n";
  }
  if (!d.driver->write_all(text))
    throw Error(
        fmt::format("[sweep] the Dask driver ended before taking the cases: {}", d.stderr_tail()));
  d.driver->close_stdin();

  for (;;) {
    auto line = d.next_line(0, nullptr, &on_tick);
    if (g_sweep_stop) {
      d.driver->kill_now();
      d.driver->wait();
      return;
    }
    if (!line)
      throw Error(fmt::format(
          "[sweep] the Dask driver stopped before the sweep finished (cases without an outcome "
          "stay NOT_RUN; --resume runs them): {}",
          d.stderr_tail()));
    json ev;
    try {
      ev = json::parse(*line);
    } catch (const json::exception&) {
      continue;  // not ours (a stray print)
    }
    std::string kind = ev.value("event", "");
    if (kind == "batch") {
      for (const auto& r : ev.at("results"))
        on_result(r.at("key").get<int64_t>(), case_from_json(r.at("result")));
    } else if (kind == "lost") {
      size_t b = ev.at("batch").get<size_t>();
      if (b >= batches.size()) continue;
      std::string why = ev.value("message", std::string("the batch was lost"));
      for (size_t i = batches[b].first; i < batches[b].second; ++i)
        on_result(items[i].key, crash_result(items[i], why, ""));
    } else if (kind == "error") {
      throw Error(fmt::format("[sweep] Dask: {}", ev.value("message", "")));
    } else if (kind == "done") {
      break;
    }
  }
  d.driver->wait();
}

}  // namespace oomless::report
