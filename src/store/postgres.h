// PostgreSQL through libpq: a connection with parameterized statements (text in, text out) and
// errors sorted by SQLSTATE, and the PostgreSQL migrations (migrations/postgres/).
// Not thread-safe: one connection serves one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct pg_conn;
struct pg_result;

namespace beta500::store {

// The rows of one statement, as text (NULL kept apart).
class PgRows {
   public:
    explicit PgRows(pg_result* result);
    PgRows(PgRows&& other) noexcept;
    PgRows& operator=(PgRows&&) = delete;
    ~PgRows();

    int size() const;
    bool IsNull(int row, int column) const;
    std::string Text(int row, int column) const;
    // The text without a copy, valid while the rows are.
    std::string_view View(int row, int column) const;
    int64_t Int(int row, int column) const;
    // Rows a command changed (UPDATE, DELETE, INSERT).
    int64_t affected() const;
    // The command's tag: "COMMIT", or "ROLLBACK" for a COMMIT of an aborted transaction.
    std::string command() const;

   private:
    pg_result* result_;
};

using PgParams = std::vector<std::optional<std::string>>;

// Rows for COPY ... FROM STDIN in text format: fields escaped, NULL as \N.
class PgCopyRows {
   public:
    PgCopyRows& Field(const std::optional<std::string>& value);
    PgCopyRows& Field(int64_t value);
    PgCopyRows& EndRow();
    const std::string& text() const { return text_; }
    bool empty() const { return text_.empty(); }

   private:
    std::string text_;
    bool row_started_ = false;
};

class PgConnection {
   public:
    // Connects to `url` (postgresql://...). Errors say why without repeating the URL, which may
    // hold a password.
    static Result<std::unique_ptr<PgConnection>> Open(const std::string& url);
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;
    ~PgConnection();

    // Runs one statement with $1, $2... parameters. Errors by SQLSTATE: a constraint or check
    // violated (class 23) -> kFailedPrecondition; a serialization failure or deadlock (40001,
    // 40P01) and a lost connection -> kUnavailable (safe to retry the whole transaction); the
    // rest -> kInternal.
    Result<PgRows> Exec(std::string_view sql, const PgParams& params = {});
    // COPY `target` (a table and its columns) FROM STDIN: the fastest way in for many rows.
    Status Copy(const std::string& target, const PgCopyRows& rows);
    // Runs a script of statements without parameters (migrations).
    Status Script(const std::string& sql);
    bool ok() const;
    // Connects again when the connection was lost (a restarted server, a dropped link); a
    // no-op while it is fine.
    Status Reconnect();
    // COMMIT, failing when the transaction had already failed (PostgreSQL then rolls back and
    // says ROLLBACK, not an error).
    Status Commit();
    // The SQLSTATE of the last statement that failed ("23505" for a unique violation).
    const std::string& sqlstate() const { return sqlstate_; }
    // The socket, for waiting on notifications (LISTEN).
    int socket() const;
    // Reads what the server sent and returns the notifications that came, as (channel, payload).
    Result<std::vector<std::pair<std::string, std::string>>> Notifications();

   private:
    explicit PgConnection(pg_conn* connection) : connection_(connection) {}
    Error Failed(const pg_result* result);
    pg_conn* connection_;
    std::string sqlstate_;
};

// Applies the PostgreSQL migrations not yet applied, each in its own transaction; servers
// starting together take turns on an advisory lock. Returns how many ran.
Result<int> MigratePostgres(PgConnection& connection, int64_t now_ms);

}  // namespace beta500::store
