#include "report/engine.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.hpp"
#include "core/host_budget.hpp"
#include "report/proc.hpp"
#include "report/suite.hpp"
#include "report/sweep.hpp"

namespace oomless::report {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_sweep_stop{false};

json to_json(const WorkerSetup& s) {
  return json{{"device", s.device},
              {"device_json", s.device_json},
              {"message_format", s.message_format},
              {"verify_samples", s.verify_samples},
              {"seed", s.seed},
              {"fault", s.fault},
              {"host_budget", s.host_budget}};
}

WorkerSetup setup_from_json(const json& j) {
  WorkerSetup s;
  s.device = j.value("device", std::string());
  s.device_json = j.value("device_json", std::string());
  s.message_format = j.value("message_format", std::string());
  s.verify_samples = j.value("verify_samples", int64_t{2000});
  s.seed = j.value("seed", uint64_t{0});
  s.fault = j.value("fault", std::string());
  s.host_budget = j.value("host_budget", int64_t{0});
  return s;
}

json to_json(const WorkItem& w) {
  return json{{"key", w.key},
              {"case", to_json(w.base)},
              {"call_out_memory", w.call_out_memory},
              {"bad_call", w.bad_call}};
}

WorkItem item_from_json(const json& j) {
  WorkItem w;
  w.key = j.at("key").get<int64_t>();
  w.base = case_from_json(j.at("case"));
  w.call_out_memory = j.value("call_out_memory", std::string());
  w.bad_call = j.value("bad_call", std::string());
  return w;
}

namespace {

void fail_assert(CaseResult& r, const std::string& message) {
  r.status = "FAIL_ASSERT_EXCEPTION";
  r.pass_kind.clear();
  r.message = message;
}

// The test hook's action for a case: "crash", "hang", "sleep:S" or "".
std::string fault_for(const WorkerSetup& s, const CaseResult& r) {
  size_t pos = 0;
  while (pos < s.fault.size()) {
    size_t end = s.fault.find(',', pos);
    if (end == std::string::npos) end = s.fault.size();
    std::string entry = s.fault.substr(pos, end - pos);
    auto eq = entry.find('=');
    if (eq != std::string::npos) {
      std::string who = entry.substr(0, eq);
      if (who == r.id || who == r.id + "@" + r.policy) return entry.substr(eq + 1);
    }
    pos = end + 1;
  }
  return {};
}

}  // namespace

device::Profile profile_of(const WorkerSetup& s) {
  device::Profile p = s.device_json.empty() ? device::load_profile(s.device)
                                            : device::parse_profile(s.device_json, s.device);
  return device::with_message_format(std::move(p), s.message_format);
}

CaseResult run_item(const device::Profile& profile, const WorkerSetup& setup, const WorkItem& w) {
  CaseResult r = w.base;
  r.timestamp = utc_now();
  auto c0 = Clock::now();
  if (!w.bad_call.empty()) {
    fail_assert(r, w.bad_call);
  } else {
    try {
      SuiteCase sc;
      sc.op = r.op;
      sc.shapes = r.shapes;
      sc.args = r.args;
      sc.dtype = r.dtype;
      sc.layout = r.layout;
      sc.memory = r.memory;
      sc.out_memory = w.call_out_memory;
      plan::CallSpec call = to_call(sc);
      RunSettings s{r.mode, setup.verify_samples, setup.seed,
                    setup.host_budget > 0 ? setup.host_budget : host_budget::default_budget()};
      find_policy(r.policy)(call, profile, s, r);
    } catch (const InvalidArgument& e) {
      fail_assert(r, e.what());
    } catch (const std::bad_alloc&) {
      fail_assert(r, "host out of memory (std::bad_alloc) while running the case");
    } catch (const std::exception& e) {
      fail_assert(r, e.what());
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - c0).count();
  return r;
}

CaseResult crash_result(const WorkItem& w, const std::string& what, const std::string& printed) {
  CaseResult r = w.base;
  r.timestamp = utc_now();
  r.status = "FAIL_CRASH_HANG";
  r.pass_kind.clear();
  std::string tail = printed;
  const size_t keep = 4000;  // the end is where a crash says why
  if (tail.size() > keep) tail = "..." + tail.substr(tail.size() - keep);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  r.message = tail.empty() ? what : what + "; it printed:\n" + tail;
  return r;
}

// --- the local engine ----------------------------------------------------------------------

namespace {

// A worker writes this line to stderr before each case: what a crashed case
// printed is what follows the last one.
constexpr std::string_view kCaseMark = "\x1eoomless-case\n";

struct Slot {
  std::unique_ptr<Child> child;
  std::string out, err;
  std::deque<const WorkItem*> inflight;  // sent, in order; the front one is running
  Clock::time_point started;             // when the front one started
  bool err_closed = false;
};

std::string printed_by_current(const std::string& err) {
  auto mark = err.rfind(kCaseMark);
  return mark == std::string::npos ? err : err.substr(mark + kCaseMark.size());
}

std::vector<std::pair<std::string, std::string>> worker_env(int jobs) {
  std::vector<std::pair<std::string, std::string>> env;
  // Workers share the cores: each gets its share of OpenMP threads.
  if (jobs > 1 && !std::getenv("OMP_NUM_THREADS")) {
    unsigned n = std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(jobs));
    env.emplace_back("OMP_NUM_THREADS", std::to_string(n));
  }
  return env;
}

}  // namespace

void run_local(const WorkerSetup& setup, const std::vector<WorkItem>& items, const LocalOptions& o,
               const OnResult& on_result, const OnTick& on_tick) {
  std::string binary = o.binary.empty() ? self_exe() : o.binary;
  std::string header = to_json(setup).dump() + "\n";
  auto env = worker_env(o.jobs);
  std::vector<Slot> slots(static_cast<size_t>(std::max(1, o.jobs)));
  std::deque<const WorkItem*> pending;
  for (const auto& w : items) pending.push_back(&w);
  size_t done = 0;

  auto finish_front = [&](Slot& s, CaseResult&& r) {
    const WorkItem* w = s.inflight.front();
    s.inflight.pop_front();
    s.started = Clock::now();  // the next one starts now
    ++done;
    on_result(w->key, std::move(r));
  };
  // The worker of `s` is gone or must go: its running case crashed or hung;
  // the cases queued behind it go back to the pending list.
  auto lose_worker = [&](Slot& s, const std::string& why) {
    s.child->kill_now();
    int st = s.child->wait();
    if (!s.err_closed) read_available(s.child->err_fd(), s.err);
    if (!s.inflight.empty()) {
      std::string what =
          why.empty() ? "the case crashed its worker process (" + describe_wait_status(st) + ")"
                      : why;
      finish_front(s, crash_result(*s.inflight.front(), what, printed_by_current(s.err)));
    }
    for (auto it = s.inflight.rbegin(); it != s.inflight.rend(); ++it) pending.push_front(*it);
    s.inflight.clear();
    s.child.reset();
    s.out.clear();
    s.err.clear();
    s.err_closed = false;
  };

  while (done < items.size() && !g_sweep_stop) {
    // Hand out cases to workers (starting them when needed). Cheap cases are
    // queued a few deep so a worker never waits for the next one; expensive
    // ones one at a time so the other workers can take them.
    for (auto& s : slots) {
      while (!pending.empty()) {
        bool cheap = expected_seconds(*pending.front()) < 0.01;
        size_t depth = cheap ? 16 : 1;
        if (s.inflight.size() >= depth ||
            (!s.inflight.empty() && !(cheap && expected_seconds(*s.inflight.back()) < 0.01)))
          break;
        if (!s.child) {
          s.child = std::make_unique<Child>(std::vector<std::string>{binary, "sweep-worker"}, env);
          if (!s.child->write_all(header)) throw Error("[sweep] cannot start a worker process");
        }
        const WorkItem* w = pending.front();
        pending.pop_front();
        if (s.inflight.empty()) s.started = Clock::now();
        s.inflight.push_back(w);
        if (!s.child->write_all(to_json(*w).dump() + "\n")) {
          lose_worker(s, "");
          break;
        }
      }
    }
    // Wait for output, a worker's end or the next deadline.
    std::vector<pollfd> fds;
    std::vector<Slot*> owners;
    int wait_ms = 1000;
    for (auto& s : slots) {
      if (!s.child) continue;
      fds.push_back({s.child->out_fd(), POLLIN, 0});
      fds.push_back({s.err_closed ? -1 : s.child->err_fd(), POLLIN, 0});
      owners.push_back(&s);
      if (!s.inflight.empty() && o.case_timeout > 0) {
        double left =
            o.case_timeout - std::chrono::duration<double>(Clock::now() - s.started).count();
        wait_ms = std::min(wait_ms, std::max(0, static_cast<int>(left * 1000) + 1));
      }
    }
    if (fds.empty()) continue;
    int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) throw Error("[sweep] poll failed");
    if (on_tick) on_tick();
    for (Slot* sp : owners) {
      Slot& s = *sp;
      if (!s.child) continue;
      if (!s.err_closed) s.err_closed = !read_available(s.child->err_fd(), s.err);
      const size_t cap = 1 << 20;  // a chatty case keeps its last MiB
      if (s.err.size() > cap) s.err.erase(0, s.err.size() - cap);
      bool out_open = read_available(s.child->out_fd(), s.out);
      while (auto line = take_line(s.out)) {
        if (s.inflight.empty()) continue;  // nothing asked: ignore
        CaseResult r;
        try {
          r = case_from_json(json::parse(*line));
        } catch (const json::exception& e) {
          r = crash_result(
              *s.inflight.front(),
              fmt::format("the case's worker wrote an unreadable result ({})", e.what()),
              printed_by_current(s.err));
        }
        finish_front(s, std::move(r));
      }
      if (!out_open) {
        lose_worker(s, "");
        continue;
      }
      if (!s.inflight.empty() && o.case_timeout > 0 &&
          std::chrono::duration<double>(Clock::now() - s.started).count() >= o.case_timeout)
        lose_worker(s, fmt::format("the case did not finish within --case-timeout {} s; its worker "
                                   "was killed",
                                   o.case_timeout));
    }
  }
  for (auto& s : slots)
    if (s.child) {
      s.child->close_stdin();  // a worker ends at the end of its input
      if (g_sweep_stop) s.child->kill_now();
      s.child->wait();
    }
}

// --- worker processes ----------------------------------------------------------------------

int sweep_worker_main() {
  // Results go to the original stdout; anything a case prints goes to stderr,
  // which the sweep keeps for a crash report.
  int proto = dup(1);
  dup2(2, 1);
  FILE* out = fdopen(proto, "w");
  if (!out) return 1;
  std::string line;
  if (!std::getline(std::cin, line)) return 0;
  WorkerSetup setup = setup_from_json(json::parse(line));
  device::Profile profile = profile_of(setup);
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    WorkItem w = item_from_json(json::parse(line));
    std::fwrite(kCaseMark.data(), 1, kCaseMark.size(), stderr);
    std::fflush(stderr);
    std::string fault = fault_for(setup, w.base);
    if (!fault.empty()) {
      fmt::print(stderr, "fault injected into {} ({}): {}\n", w.base.id, w.base.policy, fault);
      std::fflush(stderr);
      if (fault == "crash") std::abort();
      if (fault == "hang")
        for (;;) pause();
      if (fault.rfind("sleep:", 0) == 0)
        std::this_thread::sleep_for(std::chrono::duration<double>(std::stod(fault.substr(6))));
    }
    CaseResult r = run_item(profile, setup, w);
    std::string text = to_json(r).dump() + "\n";
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
  }
  return 0;
}

int sweep_batch_main(double case_timeout) {
  die_with_parent();  // a Dask worker that is killed takes its batch with it
  std::string line;
  if (!std::getline(std::cin, line)) return 0;
  WorkerSetup setup = setup_from_json(json::parse(line));
  std::vector<WorkItem> items;
  while (std::getline(std::cin, line))
    if (!line.empty()) items.push_back(item_from_json(json::parse(line)));
  LocalOptions o;
  o.jobs = 1;
  o.case_timeout = case_timeout;
  run_local(setup, items, o, [](int64_t key, CaseResult&& r) {
    std::string text = json{{"key", key}, {"result", to_json(r)}}.dump() + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  return 0;
}

// --- batches -------------------------------------------------------------------------------

double expected_seconds(const WorkItem& w) {
  if (!w.bad_call.empty() || w.base.mode != "run") return 1e-4;
  // Run mode, measured on the seed suite: ~30 ms a case (inputs, run, the
  // reference on a sample) plus ~2 s per GB requested.
  return 0.03 + static_cast<double>(w.base.bytes_requested) * 2e-9;
}

std::vector<std::pair<size_t, size_t>> plan_batches(const std::vector<WorkItem>& items,
                                                    int64_t workers, int64_t batch_size) {
  std::vector<std::pair<size_t, size_t>> out;
  if (items.empty()) return out;
  if (batch_size > 0) {
    for (size_t b = 0; b < items.size(); b += static_cast<size_t>(batch_size))
      out.emplace_back(b, std::min(items.size(), b + static_cast<size_t>(batch_size)));
    return out;
  }
  double total = 0;
  for (const auto& w : items) total += expected_seconds(w);
  // About four batches per worker for balance, but each worth a process
  // start (~0.1 s with the Dask round trip) and none longer than ~5 s, so a
  // lost worker costs little.
  double target =
      std::clamp(total / static_cast<double>(4 * std::max<int64_t>(1, workers)), 0.25, 5.0);
  const size_t max_items = 2000;
  size_t begin = 0;
  double acc = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    acc += expected_seconds(items[i]);
    if (acc >= target || i + 1 - begin >= max_items) {
      out.emplace_back(begin, i + 1);
      begin = i + 1;
      acc = 0;
    }
  }
  if (begin < items.size()) out.emplace_back(begin, items.size());
  return out;
}

}  // namespace oomless::report
