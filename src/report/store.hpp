// The results store: every sweep's runs and test cases in a database, after
// tt-metal's sweep framework (a runs table, a test-case table with the vector
// as JSON, the status, message and error signature). SQLite by default
// (results/results.db), PostgreSQL with a postgresql:// URL. Reports are
// written from it; `--resume` and `oomless merge` read it.
//
// A run is created with every one of its cases NOT_RUN in one transaction;
// outcomes replace those rows as they arrive, in transactions, so a store
// whose sweep was killed holds each case exactly once, run or NOT_RUN.
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "report/db.hpp"
#include "report/result.hpp"

namespace oomless::report {

inline constexpr int kStoreSchemaVersion = 1;

// One row of `runs`.
struct RunInfo {
  int64_t id = 0;
  std::string uid;         // random: names the run in every store it is merged into
  std::string run_vector;  // JSON of what decides the cases and their outcome (--resume key)
  std::string status = "running";  // running | success | failure | cancelled (tt-metal's)
  std::string host, initiated_by;
  SweepMeta meta;
  int64_t cases = 0, recorded = 0;  // filled when listed: rows, and rows not NOT_RUN
};

class Store {
 public:
  // A postgresql:// (or postgres://) URL, else a SQLite file path. Connection
  // and schema problems are InvalidArgument naming the store.
  static std::unique_ptr<Store> open(const std::string& url);
  explicit Store(std::unique_ptr<Db> db);

  std::string where() const { return db_->where(); }
  bool postgres() const { return db_->postgres(); }

  // Creates the run (info.id is set) with `cases` (report order) all NOT_RUN.
  void begin_run(RunInfo& info, const std::vector<CaseResult>& cases);
  // Replaces the NOT_RUN rows of these cases with their outcomes, in one
  // transaction. A case already recorded keeps its first outcome.
  void record(int64_t run, const std::vector<CaseResult>& results);
  // Updates status, end time and meta (wall time, workers) of a run.
  void finish_run(const RunInfo& info);

  // The latest run with this run vector.
  std::optional<RunInfo> latest_run(const std::string& run_vector);
  std::optional<RunInfo> run(int64_t id);
  // Every run, oldest first, with its counts.
  std::vector<RunInfo> runs();
  // (case id, policy) of the cases of a run that have an outcome.
  std::set<std::pair<std::string, std::string>> recorded(int64_t run);
  // The run's meta and cases (report order), NOT_RUN ones included.
  SweepRun load(int64_t run);
  // Copies a run from elsewhere unless this store has its uid; returns its id here.
  int64_t import_run(RunInfo info, const SweepRun& run);

 private:
  void create_schema();
  void insert_cases(int64_t run, const std::vector<CaseResult>& cases);
  std::vector<RunInfo> select_runs(const std::string& filter, const std::vector<Db::Value>& params);
  std::unique_ptr<Db> db_;
};

// The JSON tt-metal would call the test vector: what the case is and how it ran.
std::string test_vector_json(const CaseResult& r);
// Run status from its cases, as tt-metal aggregates them: any FAIL_* is a failure.
std::string run_status(const std::vector<CaseResult>& results, bool cancelled);
// A fresh random run uid (hex).
std::string new_run_uid();

}  // namespace oomless::report
