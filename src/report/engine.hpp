// How a sweep's cases get run. Every case runs in a worker process
// (`oomless sweep-worker`, one case at a time): a case that crashes its
// worker or passes the case timeout becomes FAIL_CRASH_HANG with what it
// printed, the worker is replaced and the sweep goes on.
//  - local: `--jobs N` worker processes on this machine;
//  - dask: batches of cases sent to Dask distributed workers through
//    python/oomless/dask_sweep.py; each batch runs as `oomless sweep-batch`
//    (the local engine with one worker) on a Dask worker. A Dask worker that
//    dies has its batch retried elsewhere by the scheduler.
//  - in-process (`--jobs 0`): no isolation, for debugging.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "device/profile.hpp"
#include "report/policy.hpp"
#include "report/result.hpp"

namespace oomless::report {

// One case under one policy, ready to run.
struct WorkItem {
  int64_t key = 0;              // position in the sweep's work list (report order)
  CaseResult base;              // description and footprint; policy and mode set
  std::string call_out_memory;  // the suite's out_memory as written (empty: follows the input)
  std::string bad_call;         // why the call cannot be built (then it is not sent anywhere)
};

// What every worker needs besides the items.
struct WorkerSetup {
  std::string device;          // profile name, or the origin of device_json
  std::string device_json;     // the profile's text when it came from a file
  std::string message_format;  // --tt-metal-format (empty: the profile's)
  int64_t verify_samples = 2000;
  uint64_t seed = 0;
  // Test hook (OOMLESS_SWEEP_FAULT): "ID=crash|hang|sleep:SECONDS,..." makes a
  // worker process abort, hang or pause on those case ids.
  std::string fault;
  // Run mode: each worker's host budget (bytes); 0: a worker probes its own.
  int64_t host_budget = 0;
};

nlohmann::json to_json(const WorkerSetup& s);
WorkerSetup setup_from_json(const nlohmann::json& j);
nlohmann::json to_json(const WorkItem& w);
WorkItem item_from_json(const nlohmann::json& j);

// The profile a worker runs on: the setup's device in its message words.
device::Profile profile_of(const WorkerSetup& s);
// Runs one item here (what a worker process does for each item it is sent).
CaseResult run_item(const device::Profile& profile, const WorkerSetup& setup, const WorkItem& w);
// The FAIL_CRASH_HANG record of an item whose process died or hung.
CaseResult crash_result(const WorkItem& w, const std::string& what, const std::string& printed);

using OnResult = std::function<void(int64_t key, CaseResult&& r)>;
// Called at least once a second while an engine waits (the sweep commits
// results that arrived just before a long case).
using OnTick = std::function<void()>;

// Set by SIGINT/SIGTERM during a sweep: engines stop handing out cases.
extern std::atomic<bool> g_sweep_stop;

struct LocalOptions {
  int jobs = 1;               // worker processes
  double case_timeout = 600;  // seconds; <= 0: none
  std::string binary;         // the oomless program (default: this one)
};

// Runs the items on `jobs` worker processes; each result goes to `on_result`
// as it finishes (on this thread). Returns early when g_sweep_stop is set.
void run_local(const WorkerSetup& setup, const std::vector<WorkItem>& items, const LocalOptions& o,
               const OnResult& on_result, const OnTick& on_tick = {});

struct DaskOptions {
  std::string scheduler, scheduler_file;  // one of them
  std::string python = "/usr/bin/python3";
  std::string driver;  // path of dask_sweep.py
  std::string binary;  // the oomless program on the workers
  double case_timeout = 600;
  int64_t batch_size = 0;  // items per batch; 0: sized from the cases' expected cost
  double connect_timeout = 30;
  int64_t max_workers = 0;  // use at most this many of the scheduler's workers; 0: all
};

// A connection to a Dask scheduler through the driver process.
class DaskEngine {
 public:
  // Starts the driver and waits until it reached the scheduler and at least
  // one worker; InvalidArgument (naming the scheduler) when it cannot.
  explicit DaskEngine(const DaskOptions& o);
  ~DaskEngine();
  // Workers the sweep uses at once (--dask-workers, or the whole cluster).
  int64_t workers() const { return workers_; }
  // Sends the items in batches and streams the results back.
  void run(const WorkerSetup& setup, const std::vector<WorkItem>& items, const OnResult& on_result,
           const OnTick& on_tick = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DaskOptions o_;
  int64_t workers_ = 0;
};

// Splits items (in order) into batches: a fixed size, or runs of about equal
// expected time so that small query cases share a process and every worker
// gets several batches. Returns index ranges [begin, end).
std::vector<std::pair<size_t, size_t>> plan_batches(const std::vector<WorkItem>& items,
                                                    int64_t workers, int64_t batch_size);
// Expected seconds of one item (query: tens of microseconds; run: by bytes).
double expected_seconds(const WorkItem& w);

// `oomless sweep-worker`: reads the setup and then one item per line on stdin,
// writes one result per line; what the cases print goes to stderr.
int sweep_worker_main();
// `oomless sweep-batch`: reads the setup and items on stdin, runs them on one
// isolated worker (the local engine) and writes {"key", "result"} lines.
int sweep_batch_main(double case_timeout);

}  // namespace oomless::report
