// PostgreSQL through libpq: the database tt-metal's sweep framework keeps its
// runs in. Every statement is sent with text parameters ($1, $2, ...).
#include <fmt/format.h>
#include <libpq-fe.h>

#include "core/error.hpp"
#include "report/db.hpp"

namespace oomless::report {

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

std::string redact_url(const std::string& url) {
  // scheme://user:password@host -> scheme://user:***@host
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto colon = url.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

namespace {

std::string trimmed(const char* s) {
  std::string t = s ? s : "";
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

class PgDb final : public Db {
 public:
  explicit PgDb(const std::string& url) : where_(redact_url(url)) {
    // The URL's own connect_timeout wins: later keywords override earlier ones.
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", url.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
      PQfinish(conn_);
      conn_ = nullptr;
      fail("store", fmt::format("cannot connect to PostgreSQL store {}: {}", where_, why));
    }
    query("SET client_min_messages TO warning", {});
  }
  ~PgDb() override { PQfinish(conn_); }

  std::vector<Row> query(const std::string& sql, const std::vector<Value>& params) override {
    std::string text;
    text.reserve(sql.size() + 16);
    int n = 0;
    for (char c : sql) {
      if (c == '?') {
        text += '$';
        text += std::to_string(++n);
      } else
        text += c;
    }
    std::vector<const char*> vals;
    for (const auto& p : params) vals.push_back(p ? p->c_str() : nullptr);
    PGresult* res = PQexecParams(conn_, text.c_str(), static_cast<int>(vals.size()), nullptr,
                                 vals.data(), nullptr, nullptr, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string why = trimmed(PQresultErrorMessage(res));
      if (why.empty()) why = trimmed(PQerrorMessage(conn_));
      PQclear(res);
      throw Error(
          fmt::format("[store] PostgreSQL store {}: {} (in: {})", where_, why, sql.substr(0, 80)));
    }
    std::vector<Row> rows;
    int nrows = PQntuples(res), ncols = PQnfields(res);
    for (int r = 0; r < nrows; ++r) {
      Row row(static_cast<size_t>(ncols));
      for (int c = 0; c < ncols; ++c)
        if (!PQgetisnull(res, r, c))
          row[static_cast<size_t>(c)] =
              std::string(PQgetvalue(res, r, c), static_cast<size_t>(PQgetlength(res, r, c)));
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }

  bool postgres() const override { return true; }
  std::string where() const override { return where_; }

 private:
  std::string where_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Db> open_postgres(const std::string& url) {
  return std::make_unique<PgDb>(url);
}

}  // namespace oomless::report
