// The SQL interface (store/sql.h) on a PostgreSQL connection: `?` and `?N` parameters become
// `$N`, a write transaction takes one advisory lock (writers across all servers take turns, as
// on SQLite), and errors throw StoreError by SQLSTATE.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/postgres.h"
#include "store/sql.h"

namespace beta500::store {

// A statement rewritten for PostgreSQL: SQLite's parameters (`?`, `?N`) as `$N`, numbered
// without gaps (PostgreSQL must infer every type up to the largest); `slots[n]` is the `$`
// number of SQLite's parameter n (0: not used). Quoted text is left alone.
struct PgSql {
    std::string sql;
    std::vector<int> slots;
    int params = 0;
};
PgSql PgParameters(std::string_view sql);

class PgSqlConnection;

class PgStatement final : public SqlStatement {
   public:
    PgStatement(PgSqlConnection& connection, PgSql sql) : connection_(connection), sql_(std::move(sql)) { Reset(); }

    PgStatement& Bind(int index, int64_t value) override;
    PgStatement& Bind(int index, std::string_view value) override;
    PgStatement& Bind(int index, std::optional<int64_t> value) override;
    PgStatement& BindNull(int index) override;
    bool Step() override;
    void Run() override;
    void Reset() override;

    int64_t Int(int column) const override;
    std::string Text(int column) const override;
    std::string_view TextView(int column) const override;
    bool IsNull(int column) const override;

   private:
    int Slot(int index) const;

    PgSqlConnection& connection_;
    const PgSql sql_;
    PgParams params_;
    std::optional<PgRows> rows_;
    int row_ = -1;
};

class PgSqlConnection final : public SqlConnection {
   public:
    // Throws StoreError when it cannot connect.
    explicit PgSqlConnection(const std::string& url);

    void Exec(std::string_view sql) override;
    PgStatement& Cached(const std::string& sql) override;
    int64_t LastInsertRowId() override;
    int64_t Changes() const override { return changes_; }
    void BeginWrite() override;
    void BeginRead() override;
    void Commit() override;
    void RollbackIfOpen() override;
    void Notify(const std::string& channel, const std::string& payload) override;

    // Runs a rewritten statement; throws StoreError.
    PgRows Run(const std::string& sql, const PgParams& params);

   private:
    std::unique_ptr<PgConnection> connection_;
    std::unordered_map<std::string, std::unique_ptr<PgStatement>> cache_;
    int64_t changes_ = 0;
    bool in_transaction_ = false;
};

}  // namespace beta500::store
