// The SQL interface the Database and the catalog store are written against, so that one set of
// queries runs on SQLite (store/sqlite.h) and on PostgreSQL (store/pg_sql.h). Queries are
// written in the dialect both accept: `?` or `?N` parameters (PostgreSQL's adapter rewrites them
// to `$N`), integers for times and flags, ON CONFLICT, RETURNING. Errors throw StoreError,
// which each store method catches at its boundary and turns into a Result.
// A connection and its statements belong to one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace beta500::store {

class StoreError : public std::runtime_error {
   public:
    enum class Kind { kUnique, kConstraint, kOther };
    StoreError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const { return kind_; }

   private:
    Kind kind_;
};

class SqlStatement {
   public:
    virtual ~SqlStatement() = default;
    // Binds are 1-based.
    virtual SqlStatement& Bind(int index, int64_t value) = 0;
    virtual SqlStatement& Bind(int index, std::string_view value) = 0;
    virtual SqlStatement& Bind(int index, std::optional<int64_t> value) = 0;
    virtual SqlStatement& BindNull(int index) = 0;
    // True when a row is ready, false when done.
    virtual bool Step() = 0;
    // Runs to completion (for statements without rows) and resets.
    virtual void Run() = 0;
    virtual void Reset() = 0;

    // A column as an integer (a boolean is 0 or 1).
    virtual int64_t Int(int column) const = 0;
    virtual std::string Text(int column) const = 0;
    // The column's text without a copy, valid until the next Step or Reset.
    virtual std::string_view TextView(int column) const = 0;
    virtual bool IsNull(int column) const = 0;
};

class SqlConnection {
   public:
    virtual ~SqlConnection() = default;

    // Runs statements without parameters.
    virtual void Exec(std::string_view sql) = 0;
    // A prepared statement kept for the connection's lifetime (reset before it is returned).
    virtual SqlStatement& Cached(const std::string& sql) = 0;
    // The id of the row the last INSERT on this connection made.
    virtual int64_t LastInsertRowId() = 0;
    // Rows the last statement changed.
    virtual int64_t Changes() const = 0;
    // Starts a write transaction: writers take turns (on SQLite BEGIN IMMEDIATE, on
    // PostgreSQL an advisory lock), so a check and the write it allows see no other writer.
    virtual void BeginWrite() = 0;
    // Starts a read transaction: the queries until Rollback see one snapshot.
    virtual void BeginRead() = 0;
    virtual void Commit() = 0;
    // Rolls back the open transaction, if any (never throws).
    virtual void RollbackIfOpen() = 0;
    // Tells the other servers sharing the database (store/pg_listener.h), when the transaction
    // commits. On SQLite there is one server, and nothing to tell.
    virtual void Notify(const std::string& channel, const std::string& payload) {
        (void)channel;
        (void)payload;
    }

    // BeginWrite ... Commit, rolled back if `body` throws.
    template <typename Body>
    void Transaction(Body&& body) {
        BeginWrite();
        try {
            body();
            Commit();
        } catch (...) {
            RollbackIfOpen();
            throw;
        }
    }
};

// A read transaction for the scope of the object, so several queries see one snapshot.
class ReadTransaction {
   public:
    explicit ReadTransaction(SqlConnection& connection) : connection_(connection) { connection_.BeginRead(); }
    ~ReadTransaction() { connection_.RollbackIfOpen(); }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

   private:
    SqlConnection& connection_;
};

}  // namespace beta500::store
