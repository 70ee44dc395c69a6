// SQLite: one file, WAL journal so readers (a report, a test polling the store)
// never block the sweep writing it, and a killed writer leaves the last
// committed transaction.
#include <fmt/format.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "report/db.hpp"

namespace oomless::report {

namespace {

class SqliteDb final : public Db {
 public:
  explicit SqliteDb(const std::string& path) : path_(path) {
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      fail("store", fmt::format("cannot open SQLite store {}: {}", path, why));
    }
    // Several sweeps (local shards) may write one file: wait for each other.
    sqlite3_busy_timeout(db_, 60000);
    try {
      auto mode = query("PRAGMA journal_mode=WAL", {});
      if (mode.empty() || !mode[0][0] || *mode[0][0] != "wal")
        fail("store", fmt::format("{}: cannot switch to WAL mode", path));
      query("PRAGMA synchronous=NORMAL", {});
      query("PRAGMA foreign_keys=ON", {});
    } catch (const Error& e) {
      // Not a database, read-only, ...: a bad --db, like a path that cannot be opened.
      close();
      fail("store", fmt::format("cannot use {} as a SQLite store: {}", path, e.what()));
    }
  }
  ~SqliteDb() override { close(); }

  std::vector<Row> query(const std::string& sql, const std::vector<Value>& params) override {
    sqlite3_stmt* st = statement(sql);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < params.size(); ++i) {
      int k = static_cast<int>(i) + 1;
      if (params[i])
        sqlite3_bind_text(st, k, params[i]->data(), static_cast<int>(params[i]->size()),
                          SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(st, k);
    }
    std::vector<Row> rows;
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        std::string why = sqlite3_errmsg(db_);
        sqlite3_reset(st);
        throw Error(
            fmt::format("[store] SQLite store {}: {} (in: {})", path_, why, sql.substr(0, 80)));
      }
      Row row(static_cast<size_t>(sqlite3_column_count(st)));
      for (size_t c = 0; c < row.size(); ++c) {
        int ci = static_cast<int>(c);
        if (sqlite3_column_type(st, ci) == SQLITE_NULL) continue;
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, ci));
        row[c] = std::string(text, static_cast<size_t>(sqlite3_column_bytes(st, ci)));
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(st);
    return rows;
  }

  bool postgres() const override { return false; }
  std::string where() const override { return path_; }

 private:
  sqlite3_stmt* statement(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw Error(fmt::format("[store] SQLite store {}: {} (in: {})", path_, sqlite3_errmsg(db_),
                              sql.substr(0, 80)));
    cache_.emplace(sql, st);
    return st;
  }
  void close() {
    for (auto& kv : cache_) sqlite3_finalize(kv.second);
    cache_.clear();
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> cache_;  // prepared once per statement text
};

}  // namespace

std::unique_ptr<Db> open_sqlite(const std::string& path) {
  return std::make_unique<SqliteDb>(path);
}

}  // namespace oomless::report
