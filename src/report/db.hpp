// The two SQL databases a results store lives in, behind one small interface:
// SQLite (a file, WAL mode) and PostgreSQL (libpq). Values travel as text (or
// NULL) both ways; each server converts them to the column's type.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace oomless::report {

class Db {
 public:
  using Value = std::optional<std::string>;
  using Row = std::vector<Value>;

  virtual ~Db() = default;
  // One statement with '?' placeholders (never inside literals); returns its rows.
  virtual std::vector<Row> query(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  virtual bool postgres() const = 0;
  // Where it is, for messages (a PostgreSQL URL without its password).
  virtual std::string where() const = 0;

  void begin() { query(postgres() ? "BEGIN" : "BEGIN IMMEDIATE"); }
  void commit() { query("COMMIT"); }
  void rollback() { query("ROLLBACK"); }
  // Literal text of a boolean for this server's columns.
  std::string boolean(bool b) const {
    return postgres() ? (b ? "true" : "false") : (b ? "1" : "0");
  }
};

// A file path; the file and its directory are created when missing.
std::unique_ptr<Db> open_sqlite(const std::string& path);
// A libpq connection URI (postgresql://user@host:port/db?...), with a 10 s
// connect timeout unless the URI sets one.
std::unique_ptr<Db> open_postgres(const std::string& url);

// A URL with its password replaced by "***".
std::string redact_url(const std::string& url);
bool is_postgres_url(const std::string& url);

}  // namespace oomless::report
