// The results store on SQLite (PostgreSQL is exercised end to end by
// tests/python/test_sweep_engines.py), the status mapping, batches and shards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"
#include "report/engine.hpp"
#include "report/store.hpp"
#include "report/sweep.hpp"

using namespace oomless;
using namespace oomless::report;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("oomless-store-" + std::to_string(getpid()) + "-" + new_run_uid().substr(0, 8));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

CaseResult make_case(int64_t seq, const std::string& policy, const std::string& status) {
  CaseResult r;
  r.seq = seq;
  r.op = "add";
  r.id = "add/" + std::to_string(seq);
  r.suite = "synthetic";
  r.shapes_as_given = r.shapes = {{1, 32, 32}, {1, 32, 32}};
  r.dtype = "bf16";
  r.layout = "tile";
  r.memory = r.out_memory = "l1";
  r.device = "wormhole_b0";
  r.policy = policy;
  r.mode = "run";
  r.status = status;
  r.bytes_requested = 6144 * (seq + 1);
  r.seconds = 0.001 * static_cast<double>(seq + 1) / 3.0;
  r.timestamp = "2025-08-18T19:40:00Z";
  return r;
}

RunInfo make_run(const std::string& vector) {
  RunInfo info;
  info.uid = new_run_uid();
  info.run_vector = vector;
  info.meta.suite = "synthetic";
  info.meta.device = "wormhole_b0";
  info.meta.mode = "run";
  info.meta.policies = {"strict", "auto"};
  info.meta.started = "2025-08-18T19:40:00Z";
  return info;
}

}  // namespace

TEST(Store, StatusesMapToTtMetalsNames) {
  EXPECT_EQ(tt_metal_status("FAIL_DRAM_OUT_OF_MEM"), "FAIL_L1_OUT_OF_MEM");
  EXPECT_EQ(tt_metal_status("FAIL_CB_OUT_OF_MEM"), "FAIL_ASSERT_EXCEPTION");
  for (auto s :
       {"PASS", "FAIL_L1_OUT_OF_MEM", "FAIL_ASSERT_EXCEPTION", "FAIL_CRASH_HANG", "NOT_RUN"})
    EXPECT_EQ(tt_metal_status(s), s);
  EXPECT_EQ(error_signature("first line\nsecond"), "first line");
  EXPECT_EQ(error_signature(std::string(300, 'x')).size(), 255u);
  // Never half a UTF-8 character (PostgreSQL would reject the text).
  std::string accents = std::string(254, 'x') + "\xc3\xa9tail";
  EXPECT_EQ(error_signature(accents), std::string(254, 'x'));
  EXPECT_EQ(run_status({make_case(0, "strict", "PASS")}, false), "success");
  EXPECT_EQ(run_status({make_case(0, "strict", "FAIL_CRASH_HANG")}, false), "failure");
  EXPECT_EQ(run_status({}, true), "cancelled");
}

TEST(Store, RunsStartNotRunAndRecordEachCaseOnce) {
  TempDir t;
  auto store = Store::open((t.path / "r.db").string());
  std::vector<CaseResult> rows;
  for (int64_t i = 0; i < 100; ++i)  // more than one multi-row INSERT
    for (const char* p : {"strict", "auto"}) rows.push_back(make_case(i, p, "NOT_RUN"));
  RunInfo info = make_run("{\"v\":1}");
  store->begin_run(info, rows);
  ASSERT_GT(info.id, 0);
  EXPECT_TRUE(store->recorded(info.id).empty());

  CaseResult a = make_case(3, "auto", "PASS");
  a.max_abs_error = 0.0078125;
  a.verify_checked = 2000;
  CaseResult b = make_case(5, "strict", "FAIL_CB_OUT_OF_MEM");
  b.message = "Statically allocated circular buffers ...\nmore";
  store->record(info.id, {a, b});
  CaseResult again = a;
  again.status = "FAIL_CRASH_HANG";
  store->record(info.id, {again});  // the first outcome stays
  auto rec = store->recorded(info.id);
  EXPECT_EQ(
      rec, (std::set<std::pair<std::string, std::string>>{{"add/3", "auto"}, {"add/5", "strict"}}));
  SweepRun back = store->load(info.id);
  ASSERT_EQ(back.results.size(), rows.size());
  EXPECT_EQ(back.results[7].status, "PASS");        // add/3 auto, in report order
  EXPECT_EQ(to_json(back.results[7]), to_json(a));  // every field, doubles exactly
  EXPECT_EQ(back.results[10].status, "FAIL_CB_OUT_OF_MEM");
  EXPECT_EQ(back.results[0].status, "NOT_RUN");

  auto runs = store->runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].cases, 200);
  EXPECT_EQ(runs[0].recorded, 2);
  EXPECT_EQ(runs[0].status, "running");
  EXPECT_EQ(store->latest_run("{\"v\":1}")->id, info.id);
  EXPECT_FALSE(store->latest_run("{\"v\":2}"));

  info.status = "failure";
  info.meta.finished = "2025-08-18T19:41:00Z";
  info.meta.seconds = 60;
  store->finish_run(info);
  EXPECT_EQ(store->run(info.id)->status, "failure");
  EXPECT_EQ(store->run(info.id)->meta.seconds, 60);
}

TEST(Store, ImportKeepsARunsIdentity) {
  TempDir t;
  auto src = Store::open((t.path / "a.db").string());
  RunInfo info = make_run("{\"v\":1}");
  std::vector<CaseResult> rows = {make_case(0, "strict", "PASS"), make_case(1, "strict", "PASS")};
  src->begin_run(info, rows);
  src->record(info.id, rows);
  info.status = "success";
  src->finish_run(info);
  SweepRun run = src->load(info.id);

  auto dst = Store::open((t.path / "b.db").string());
  int64_t id = dst->import_run(*src->run(info.id), run);
  EXPECT_EQ(dst->import_run(*src->run(info.id), run), id);  // the same uid: copied once
  ASSERT_EQ(dst->runs().size(), 1u);
  EXPECT_EQ(dst->runs()[0].uid, info.uid);
  EXPECT_EQ(dst->runs()[0].status, "success");
  EXPECT_EQ(dst->runs()[0].recorded, 2);
  EXPECT_EQ(nlohmann::json(to_json(dst->load(id).results[1])),
            nlohmann::json(to_json(run.results[1])));
}

TEST(Store, BadStoresAreInvalidArguments) {
  TempDir t;
  EXPECT_THROW(Store::open("mysql://db/x"), InvalidArgument);
  EXPECT_THROW(Store::open(""), InvalidArgument);
  EXPECT_THROW(Store::open("postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"), InvalidArgument);
  std::ofstream((t.path / "junk.db").string()) << std::string(5000, 'j');
  EXPECT_THROW(Store::open((t.path / "junk.db").string()), InvalidArgument);
  EXPECT_EQ(redact_url("postgresql://me:secret@host:5432/db"), "postgresql://me:***@host:5432/db");
  EXPECT_EQ(redact_url("postgresql://me@host/db"), "postgresql://me@host/db");
}

TEST(Store, ShardsPartitionTheCases) {
  for (size_t total : {0u, 1u, 7u, 1779u})
    for (int64_t n : {1, 2, 3, 8}) {
      std::vector<int> seen(total, 0);
      for (int64_t i = 0; i < n; ++i) {
        auto idx = shard_indices(total, i, n);
        // Round robin: shard sizes differ by at most one.
        EXPECT_LE(idx.size(), (total + static_cast<size_t>(n) - 1) / static_cast<size_t>(n));
        for (size_t k : idx) ++seen[k];
      }
      for (size_t k = 0; k < total; ++k) EXPECT_EQ(seen[k], 1) << total << " " << n << " " << k;
    }
}

TEST(Store, BatchesCoverEveryItemInOrder) {
  std::vector<WorkItem> items;
  for (int64_t k = 0; k < 500; ++k) {
    WorkItem w;
    w.key = k;
    w.base.mode = k < 400 ? "query" : "run";
    w.base.bytes_requested = (k % 7) << 20;
    items.push_back(w);
  }
  for (int64_t workers : {1, 2, 8})
    for (int64_t size : {0, 1, 33}) {
      auto batches = plan_batches(items, workers, size);
      size_t next = 0;
      for (auto [b, e] : batches) {
        EXPECT_EQ(b, next);
        EXPECT_LT(b, e);
        if (size > 0) {
          EXPECT_LE(e - b, static_cast<size_t>(size));
        }
        next = e;
      }
      EXPECT_EQ(next, items.size());
    }
  // The 400 query cases (40 ms in all) share a batch; run cases spread out.
  auto batches = plan_batches(items, 2, 0);
  EXPECT_GE(batches.front().second, 400u);
  EXPECT_GE(batches.size(), 4u);
}
