#include "report/store.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "report/sweep.hpp"

namespace oomless::report {

using nlohmann::json;

namespace {

// Column types per server: TIMESTAMPTZ and JSONB where PostgreSQL has them.
struct Types {
  const char *id, *big, *real, *ts, *json, *boolean;
};
constexpr Types kSqliteTypes{
    "INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "REAL", "TEXT", "TEXT", "INTEGER"};
constexpr Types kPgTypes{"BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION",
                         "TIMESTAMPTZ",           "JSONB",  "BOOLEAN"};

Db::Value opt(const std::string& s) {
  return s.empty() ? Db::Value() : Db::Value(s);
}
std::string num(int64_t v) {
  return std::to_string(v);
}
std::string num(double v) {
  return fmt::format("{}", v);  // shortest text that reads back as the same double
}
const std::string& text(const Db::Row& row, size_t i) {
  static const std::string empty;
  return row[i] ? *row[i] : empty;
}
int64_t integer(const Db::Row& row, size_t i) {
  return row[i] ? std::stoll(*row[i]) : 0;
}

constexpr int kCaseColumns = 19;

// The row values of one case, in the order of kCaseInsert's columns after run_id.
std::vector<Db::Value> case_values(const Db& db, int64_t ord, const CaseResult& r) {
  bool ran = r.status != "NOT_RUN";
  bool verified = r.verify_checked > 0 && r.verify_failed == 0;
  return {num(ord),
          r.id,
          r.policy,
          r.op,
          r.suite,
          ran ? opt(r.timestamp) : Db::Value(),
          ran ? Db::Value(utc_now()) : Db::Value(),
          r.status,
          std::string(tt_metal_status(r.status)),
          test_vector_json(r),
          opt(r.message),
          r.message.empty() ? Db::Value() : Db::Value(error_signature(r.message)),
          ran ? Db::Value(num(r.seconds)) : Db::Value(),
          num(r.bytes_requested),
          num(r.peak_l1_per_core),
          num(r.peak_dram_per_bank),
          num(r.peak_host_bytes),
          db.boolean(verified),
          to_json(r).dump()};
}

}  // namespace

std::string test_vector_json(const CaseResult& r) {
  return json{{"op", r.op},         {"aten", r.aten},
              {"shapes", r.shapes}, {"args", r.args},
              {"dtype", r.dtype},   {"layout", r.layout},
              {"memory", r.memory}, {"out_memory", r.out_memory},
              {"device", r.device}, {"policy", r.policy},
              {"mode", r.mode}}
      .dump();
}

std::string run_status(const std::vector<CaseResult>& results, bool cancelled) {
  if (cancelled) return "cancelled";
  for (const auto& r : results)
    if (r.status.rfind("FAIL", 0) == 0) return "failure";
  return "success";
}

std::string new_run_uid() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<uint64_t>(rd()) << 32) ^ rd());
  return fmt::format("{:016x}{:016x}", g(), g());
}

std::unique_ptr<Store> Store::open(const std::string& url) {
  if (url.empty()) fail("store", "--db is empty");
  if (is_postgres_url(url)) return std::make_unique<Store>(open_postgres(url));
  if (url.find("://") != std::string::npos)
    fail("store", fmt::format("unsupported --db '{}': give a SQLite file path or a "
                              "postgresql://user@host:port/dbname URL",
                              redact_url(url)));
  return std::make_unique<Store>(open_sqlite(url));
}

Store::Store(std::unique_ptr<Db> db) : db_(std::move(db)) {
  try {
    create_schema();
  } catch (const InvalidArgument&) {
    throw;
  } catch (const Error& e) {
    fail("store", fmt::format("cannot set up the store {}: {}", db_->where(), e.what()));
  }
}

void Store::create_schema() {
  const Types& t = db_->postgres() ? kPgTypes : kSqliteTypes;
  db_->begin();
  try {
    // Shards starting together on one PostgreSQL would race on CREATE TABLE.
    if (db_->postgres()) db_->query("SELECT pg_advisory_xact_lock(7305721)");
    db_->query("CREATE TABLE IF NOT EXISTS oomless_schema (version INTEGER NOT NULL)");
    auto v = db_->query("SELECT version FROM oomless_schema");
    if (v.empty()) {
      db_->query("INSERT INTO oomless_schema (version) VALUES (?)",
                 {std::to_string(kStoreSchemaVersion)});
    } else if (integer(v[0], 0) != kStoreSchemaVersion) {
      fail("store", fmt::format("{} has store schema version {}; this oomless reads version {}",
                                db_->where(), text(v[0], 0), kStoreSchemaVersion));
    }
    // Columns follow tt-metal's runs and sweep test cases; the oomless ones
    // (policy, peaks, verified, the full record) come after.
    db_->query(fmt::format(
        "CREATE TABLE IF NOT EXISTS runs ("
        "id {0}, uid TEXT NOT NULL UNIQUE, initiated_by TEXT, host TEXT, device TEXT, "
        "type TEXT NOT NULL DEFAULT 'sweep', run_contents TEXT, git_commit_hash TEXT, "
        "start_time_ts {1} NOT NULL, end_time_ts {1}, status TEXT NOT NULL, "
        "suite TEXT, policy TEXT, mode TEXT, shard TEXT, label TEXT, engine TEXT, workers {2}, "
        "wall_seconds {3}, run_vector TEXT NOT NULL, meta TEXT NOT NULL)",
        t.id, t.ts, t.big, t.real));
    db_->query(fmt::format(
        "CREATE TABLE IF NOT EXISTS test_cases ("
        "id {0}, run_id {1} NOT NULL REFERENCES runs(id) ON DELETE CASCADE, ord {1} NOT NULL, "
        "name TEXT NOT NULL, policy TEXT NOT NULL, op TEXT NOT NULL, suite_name TEXT, "
        "start_time_ts {2}, end_time_ts {2}, status TEXT NOT NULL, tt_status TEXT NOT NULL, "
        "test_vector {3} NOT NULL, message TEXT, error_signature TEXT, e2e_seconds {4}, "
        "bytes_requested {1}, peak_l1_per_core {1}, peak_dram_per_bank {1}, peak_host_bytes {1}, "
        "verified {5}, record TEXT NOT NULL, UNIQUE (run_id, name, policy))",
        t.id, t.big, t.ts, t.json, t.real, t.boolean));
    db_->query("CREATE INDEX IF NOT EXISTS idx_runs_run_vector ON runs (run_vector)");
    db_->query("CREATE INDEX IF NOT EXISTS idx_test_cases_run ON test_cases (run_id, ord)");
    db_->query("CREATE INDEX IF NOT EXISTS idx_test_cases_status ON test_cases (status)");
    db_->query("CREATE INDEX IF NOT EXISTS idx_test_cases_op ON test_cases (op)");
    db_->query(
        "CREATE INDEX IF NOT EXISTS idx_test_cases_error_signature ON test_cases "
        "(error_signature)");
    db_->commit();
  } catch (...) {
    db_->rollback();
    throw;
  }
}

void Store::insert_cases(int64_t run, const std::vector<CaseResult>& cases) {
  const size_t per = 64;  // rows per INSERT: few round trips, few variables
  for (size_t b = 0; b < cases.size(); b += per) {
    size_t e = std::min(cases.size(), b + per);
    std::string sql =
        "INSERT INTO test_cases (run_id, ord, name, policy, op, suite_name, start_time_ts, "
        "end_time_ts, status, tt_status, test_vector, message, error_signature, e2e_seconds, "
        "bytes_requested, peak_l1_per_core, peak_dram_per_bank, peak_host_bytes, verified, "
        "record) VALUES ";
    std::vector<Db::Value> params;
    for (size_t i = b; i < e; ++i) {
      sql += i == b ? "(?" : ", (?";
      for (int k = 0; k < kCaseColumns; ++k) sql += ", ?";
      sql += ")";
      params.push_back(num(run));
      auto v = case_values(*db_, static_cast<int64_t>(i), cases[i]);
      params.insert(params.end(), v.begin(), v.end());
    }
    db_->query(sql, params);
  }
}

void Store::begin_run(RunInfo& info, const std::vector<CaseResult>& cases) {
  const SweepMeta& m = info.meta;
  db_->begin();
  try {
    auto rows = db_->query(
        "INSERT INTO runs (uid, initiated_by, host, device, type, run_contents, git_commit_hash, "
        "start_time_ts, status, suite, policy, mode, shard, label, engine, workers, "
        "wall_seconds, run_vector, meta) VALUES (?, ?, ?, ?, 'sweep', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?) RETURNING id",
        {info.uid, opt(info.initiated_by), opt(info.host), m.device,
         fmt::format("{} {}", m.suite, join(m.filters, " ")), m.git_revision, m.started,
         info.status, m.suite, join(m.policies, ","), m.mode, opt(join(m.shards, ",")),
         opt(m.label), m.engine, num(m.workers), num(m.seconds), info.run_vector,
         to_json(m).dump()});
    info.id = integer(rows.at(0), 0);
    insert_cases(info.id, cases);
    db_->commit();
  } catch (...) {
    db_->rollback();
    throw;
  }
}

void Store::record(int64_t run, const std::vector<CaseResult>& results) {
  if (results.empty()) return;
  db_->begin();
  try {
    for (const auto& r : results) {
      auto v = case_values(*db_, 0, r);
      // v: ord name policy op suite start end status tt_status vector message signature
      //    seconds bytes peak_l1 peak_dram peak_host verified record
      db_->query(
          "UPDATE test_cases SET start_time_ts = ?, end_time_ts = ?, status = ?, tt_status = ?, "
          "message = ?, error_signature = ?, e2e_seconds = ?, peak_l1_per_core = ?, "
          "peak_dram_per_bank = ?, peak_host_bytes = ?, verified = ?, record = ? "
          "WHERE run_id = ? AND name = ? AND policy = ? AND status = 'NOT_RUN'",
          {v[5], v[6], v[7], v[8], v[10], v[11], v[12], v[14], v[15], v[16], v[17], v[18], num(run),
           v[1], v[2]});
    }
    db_->commit();
  } catch (...) {
    db_->rollback();
    throw;
  }
}

void Store::finish_run(const RunInfo& info) {
  const SweepMeta& m = info.meta;
  db_->query(
      "UPDATE runs SET end_time_ts = ?, status = ?, engine = ?, workers = ?, wall_seconds = ?, "
      "git_commit_hash = ?, meta = ? WHERE id = ?",
      {opt(m.finished), info.status, m.engine, num(m.workers), num(m.seconds), m.git_revision,
       to_json(m).dump(), num(info.id)});
}

std::vector<RunInfo> Store::select_runs(const std::string& filter,
                                        const std::vector<Db::Value>& params) {
  auto rows = db_->query(
      "SELECT r.id, r.uid, r.run_vector, r.status, r.host, r.initiated_by, r.meta, "
      "(SELECT COUNT(*) FROM test_cases c WHERE c.run_id = r.id), "
      "(SELECT COUNT(*) FROM test_cases c WHERE c.run_id = r.id AND c.status <> 'NOT_RUN') "
      "FROM runs r " +
          filter,
      params);
  std::vector<RunInfo> out;
  for (const auto& row : rows) {
    RunInfo r;
    r.id = integer(row, 0);
    r.uid = text(row, 1);
    r.run_vector = text(row, 2);
    r.status = text(row, 3);
    r.host = text(row, 4);
    r.initiated_by = text(row, 5);
    try {
      r.meta = meta_from_json(json::parse(text(row, 6)));
    } catch (const json::exception& e) {
      throw Error(
          fmt::format("[store] {}: run {} has unreadable meta: {}", where(), r.id, e.what()));
    }
    r.cases = integer(row, 7);
    r.recorded = integer(row, 8);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<RunInfo> Store::latest_run(const std::string& run_vector) {
  auto v = select_runs("WHERE r.run_vector = ? ORDER BY r.id DESC LIMIT 1", {run_vector});
  if (v.empty()) return std::nullopt;
  return v[0];
}

std::optional<RunInfo> Store::run(int64_t id) {
  auto v = select_runs("WHERE r.id = ?", {num(id)});
  if (v.empty()) return std::nullopt;
  return v[0];
}

std::vector<RunInfo> Store::runs() {
  return select_runs("ORDER BY r.id", {});
}

std::set<std::pair<std::string, std::string>> Store::recorded(int64_t run) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& row :
       db_->query("SELECT name, policy FROM test_cases WHERE run_id = ? AND status <> 'NOT_RUN'",
                  {num(run)}))
    out.insert({text(row, 0), text(row, 1)});
  return out;
}

SweepRun Store::load(int64_t id) {
  auto info = run(id);
  if (!info) fail("store", fmt::format("{} has no run {}", where(), id));
  SweepRun out;
  out.meta = info->meta;
  for (const auto& row :
       db_->query("SELECT record FROM test_cases WHERE run_id = ? ORDER BY ord", {num(id)})) {
    try {
      out.results.push_back(case_from_json(json::parse(text(row, 0))));
    } catch (const json::exception& e) {
      throw Error(
          fmt::format("[store] {}: a case of run {} is unreadable: {}", where(), id, e.what()));
    }
  }
  return out;
}

int64_t Store::import_run(RunInfo info, const SweepRun& run) {
  auto have = db_->query("SELECT id FROM runs WHERE uid = ?", {info.uid});
  if (!have.empty()) return integer(have[0], 0);
  std::string status = info.status;
  begin_run(info, run.results);  // the cases arrive with their outcomes
  info.status = status;
  finish_run(info);
  return info.id;
}

}  // namespace oomless::report
