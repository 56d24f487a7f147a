// A thin RAII layer over the SQLite C API, behind the SQL interface (store/sql.h). Errors throw
// SqliteError, which each store method catches at its boundary and turns into a Result (callers
// outside src/store never see it).
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
#include "store/sql.h"

namespace beta500::store {

// An SQLite failure with its (extended) result code.
class SqliteError : public StoreError {
   public:
    SqliteError(int code, const std::string& message)
        : StoreError(code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY ? Kind::kUnique
                     : (code & 0xFF) == SQLITE_CONSTRAINT                                      ? Kind::kConstraint
                                                                                               : Kind::kOther,
                     message),
          code_(code) {}
    int code() const { return code_; }

   private:
    int code_;
};

class Statement final : public SqlStatement {
   public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement() override;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& Bind(int index, int64_t value) override;
    Statement& Bind(int index, std::string_view value) override;
    Statement& Bind(int index, std::optional<int64_t> value) override;
    Statement& BindNull(int index) override;
    bool Step() override;
    void Run() override;
    void Reset() override;

    int64_t Int(int column) const override;
    std::string Text(int column) const override;
    std::string_view TextView(int column) const override;
    bool IsNull(int column) const override;

   private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

class Connection final : public SqlConnection {
   public:
    struct Options {
        bool read_only = false;
        std::string synchronous = "full";
        int64_t busy_timeout_ms = 5000;
    };
    Connection(const std::string& path, const Options& options);
    ~Connection() override;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void Exec(std::string_view sql) override;
    Statement& Cached(const std::string& sql) override;
    int64_t LastInsertRowId() override { return sqlite3_last_insert_rowid(db_); }
    int64_t Changes() const override { return sqlite3_changes(db_); }
    bool InTransaction() const { return !sqlite3_get_autocommit(db_); }
    void BeginWrite() override { Cached("BEGIN IMMEDIATE").Run(); }
    void BeginRead() override { Cached("BEGIN").Run(); }
    void Commit() override { Cached("COMMIT").Run(); }
    void RollbackIfOpen() override {
        if (!sqlite3_get_autocommit(db_)) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

   private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// Runs `body` holding `mutex`; a storage failure rolls back what `body` began and comes back
// as kUnavailable. For stores that share one connection between callers.
template <typename Body>
auto LockedCall(std::mutex& mutex, SqlConnection& connection, Body&& body) -> decltype(body()) {
    std::lock_guard lock(mutex);
    try {
        return body();
    } catch (const StoreError& error) {
        connection.RollbackIfOpen();
        return Error{ErrorCode::kUnavailable, error.what()};
    }
}

}  // namespace beta500::store
