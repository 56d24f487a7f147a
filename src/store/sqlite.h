// A thin RAII layer over the SQLite C API. Errors throw SqliteError, which each store method
// catches at its boundary and turns into a Result (callers outside src/store never see it).
// A Connection and its statements belong to one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"

namespace beta500::store {

class SqliteError : public std::runtime_error {
   public:
    SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const { return code_; }

   private:
    int code_;
};

class Statement {
   public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // Binds are 1-based, as in SQLite.
    Statement& Bind(int index, int64_t value);
    Statement& Bind(int index, std::string_view value);
    Statement& Bind(int index, std::optional<int64_t> value);
    Statement& BindNull(int index);
    // True when a row is ready, false when done.
    bool Step();
    // Runs to completion (for statements without rows) and resets.
    void Run();
    void Reset();

    int64_t Int(int column) const;
    std::string Text(int column) const;
    // The column's text without a copy, valid until the next Step or Reset.
    std::string_view TextView(int column) const;
    bool IsNull(int column) const;

   private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

class Connection {
   public:
    struct Options {
        bool read_only = false;
        std::string synchronous = "full";
        int64_t busy_timeout_ms = 5000;
    };
    Connection(const std::string& path, const Options& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void Exec(std::string_view sql);
    // A prepared statement kept for the connection's lifetime (reset before it is returned).
    Statement& Cached(const std::string& sql);
    int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
    int Changes() const { return sqlite3_changes(db_); }
    bool InTransaction() const { return !sqlite3_get_autocommit(db_); }
    // Rolls back the open transaction, if any (never throws).
    void RollbackIfOpen() {
        if (!sqlite3_get_autocommit(db_)) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

    // BEGIN IMMEDIATE ... COMMIT, rolled back if `body` throws.
    template <typename Body>
    void Transaction(Body&& body) {
        Cached("BEGIN IMMEDIATE").Run();
        try {
            body();
            Cached("COMMIT").Run();
        } catch (...) {
            RollbackIfOpen();
            throw;
        }
    }

   private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// A read transaction for the scope of the object, so several queries see one snapshot.
class ReadTransaction {
   public:
    explicit ReadTransaction(Connection& connection) : connection_(connection) {
        connection_.Cached("BEGIN").Run();
    }
    ~ReadTransaction() { connection_.RollbackIfOpen(); }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

   private:
    Connection& connection_;
};

// Runs `body` holding `mutex`; a storage failure rolls back what `body` began and comes back
// as kUnavailable. For stores that share one connection between callers.
template <typename Body>
auto LockedCall(std::mutex& mutex, Connection& connection, Body&& body) -> decltype(body()) {
    std::lock_guard lock(mutex);
    try {
        return body();
    } catch (const SqliteError& error) {
        connection.RollbackIfOpen();
        return Error{ErrorCode::kUnavailable, error.what()};
    }
}

}  // namespace beta500::store
