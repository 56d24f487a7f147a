#include "store/pg_sql.h"

namespace beta500::store {
namespace {

// The advisory lock every write transaction of Database takes (SQLite's BEGIN IMMEDIATE).
constexpr int64_t kWriteLock = 0x62657461'35303031;

[[noreturn]] void Throw(PgConnection& connection, const Error& error) {
    const std::string& state = connection.sqlstate();
    throw StoreError(state == "23505"           ? StoreError::Kind::kUnique
                     : state.starts_with("23") ? StoreError::Kind::kConstraint
                                               : StoreError::Kind::kOther,
                     error.message);
}

}  // namespace

PgSql PgParameters(std::string_view sql) {
    // First pass: SQLite's numbers (a bare `?` is one more than the largest so far), in order.
    std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) of each parameter in `sql`
    std::vector<int> numbers;
    int highest = 0;
    char quote = 0;
    for (size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            quote = c == quote ? 0 : quote;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '?') {
            size_t end = i + 1;
            while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9') {
                ++end;
            }
            const int number = end > i + 1 ? std::stoi(std::string(sql.substr(i + 1, end - i - 1))) : highest + 1;
            highest = std::max(highest, number);
            spans.emplace_back(i, end);
            numbers.push_back(number);
            i = end - 1;
        }
    }
    // PostgreSQL must know every $n up to the largest: the numbers used become 1, 2, ...
    PgSql out;
    out.slots.assign(static_cast<size_t>(highest) + 1, 0);
    for (const int number : numbers) {
        out.slots[static_cast<size_t>(number)] = 1;
    }
    int next = 0;
    for (int& slot : out.slots) {
        slot = slot != 0 ? ++next : 0;
    }
    size_t copied = 0;
    for (size_t k = 0; k < spans.size(); ++k) {
        out.sql.append(sql.substr(copied, spans[k].first - copied));
        out.sql += '$' + std::to_string(out.slots[static_cast<size_t>(numbers[k])]);
        copied = spans[k].second;
    }
    out.sql.append(sql.substr(copied));
    out.params = next;
    return out;
}

PgStatement& PgStatement::Bind(int index, int64_t value) {
    return Bind(index, std::string_view(std::to_string(value)));
}

PgStatement& PgStatement::Bind(int index, std::string_view value) {
    if (const int slot = Slot(index); slot > 0) {
        params_[static_cast<size_t>(slot - 1)] = std::string(value);
    }
    return *this;
}

int PgStatement::Slot(int index) const {
    if (index <= 0 || static_cast<size_t>(index) >= sql_.slots.size()) {
        throw StoreError(StoreError::Kind::kOther, "parameter " + std::to_string(index) + " out of range");
    }
    return sql_.slots[static_cast<size_t>(index)];
}

PgStatement& PgStatement::Bind(int index, std::optional<int64_t> value) {
    return value ? Bind(index, *value) : BindNull(index);
}

PgStatement& PgStatement::BindNull(int index) {
    if (const int slot = Slot(index); slot > 0) {
        params_[static_cast<size_t>(slot - 1)].reset();
    }
    return *this;
}

bool PgStatement::Step() {
    if (!rows_) {
        rows_.emplace(connection_.Run(sql_.sql, params_));
        row_ = -1;
    }
    return ++row_ < rows_->size();
}

void PgStatement::Run() {
    rows_.emplace(connection_.Run(sql_.sql, params_));
    Reset();
}

void PgStatement::Reset() {
    rows_.reset();
    row_ = -1;
    params_.assign(static_cast<size_t>(sql_.params), std::nullopt);
}

int64_t PgStatement::Int(int column) const { return rows_->Int(row_, column); }
std::string PgStatement::Text(int column) const { return rows_->Text(row_, column); }
std::string_view PgStatement::TextView(int column) const { return rows_->View(row_, column); }
bool PgStatement::IsNull(int column) const { return rows_->IsNull(row_, column); }

PgSqlConnection::PgSqlConnection(const std::string& url) {
    auto opened = PgConnection::Open(url);
    if (!opened) {
        throw StoreError(StoreError::Kind::kOther, opened.error().message);
    }
    connection_ = std::move(*opened);
}

PgRows PgSqlConnection::Run(const std::string& sql, const PgParams& params) {
    if (!in_transaction_) {
        // Between transactions a lost connection is taken up again (a restarted server).
        if (Status connected = connection_->Reconnect(); !connected) {
            throw StoreError(StoreError::Kind::kOther, connected.error().message);
        }
    }
    auto rows = connection_->Exec(sql, params);
    if (!rows) {
        Throw(*connection_, rows.error());
    }
    changes_ = rows->affected();
    return std::move(*rows);
}

void PgSqlConnection::Exec(std::string_view sql) {
    if (Status ran = connection_->Script(std::string(sql)); !ran) {
        Throw(*connection_, ran.error());
    }
}

PgStatement& PgSqlConnection::Cached(const std::string& sql) {
    auto& slot = cache_[sql];
    if (!slot) {
        slot = std::make_unique<PgStatement>(*this, PgParameters(sql));
    }
    slot->Reset();
    return *slot;
}

int64_t PgSqlConnection::LastInsertRowId() { return Run("SELECT lastval()", {}).Int(0, 0); }

void PgSqlConnection::BeginWrite() {
    Run("BEGIN", {});
    in_transaction_ = true;
    try {
        Run("SELECT pg_advisory_xact_lock(" + std::to_string(kWriteLock) + ")", {});
    } catch (...) {
        RollbackIfOpen();
        throw;
    }
}

void PgSqlConnection::BeginRead() {
    Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {});
    in_transaction_ = true;
}

void PgSqlConnection::Commit() {
    in_transaction_ = false;
    if (Status committed = connection_->Commit(); !committed) {
        Throw(*connection_, committed.error());
    }
}

void PgSqlConnection::RollbackIfOpen() {
    if (in_transaction_) {
        in_transaction_ = false;
        (void)connection_->Exec("ROLLBACK");
    }
}

void PgSqlConnection::Notify(const std::string& channel, const std::string& payload) {
    Run("SELECT pg_notify($1, $2)", {channel, payload});
}

}  // namespace beta500::store
