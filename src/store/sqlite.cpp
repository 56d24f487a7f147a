#include "store/sqlite.h"

namespace beta500::store {
namespace {

[[noreturn]] void Throw(sqlite3* db, int code) {
    throw SqliteError(code, std::string(sqlite3_errstr(code)) + ": " + sqlite3_errmsg(db));
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    const int code = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (code != SQLITE_OK) {
        Throw(db, code);
    }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, int64_t value) {
    if (int code = sqlite3_bind_int64(stmt_, index, value); code != SQLITE_OK) {
        Throw(db_, code);
    }
    return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
    if (int code = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                     SQLITE_TRANSIENT);
        code != SQLITE_OK) {
        Throw(db_, code);
    }
    return *this;
}

Statement& Statement::Bind(int index, std::optional<int64_t> value) {
    return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
    if (int code = sqlite3_bind_null(stmt_, index); code != SQLITE_OK) {
        Throw(db_, code);
    }
    return *this;
}

bool Statement::Step() {
    const int code = sqlite3_step(stmt_);
    if (code == SQLITE_ROW) {
        return true;
    }
    if (code == SQLITE_DONE) {
        return false;
    }
    sqlite3_reset(stmt_);
    Throw(db_, code);
}

void Statement::Run() {
    while (Step()) {
    }
    Reset();
}

void Statement::Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string_view Statement::TextView(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text ? std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))) : std::string_view();
}

std::string Statement::Text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))) : "";
}

bool Statement::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

Connection::Connection(const std::string& path, const Options& options) {
    const int flags = options.read_only ? SQLITE_OPEN_READONLY
                                        : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const int code = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (code != SQLITE_OK) {
        std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
        sqlite3_close(db_);
        db_ = nullptr;
        throw SqliteError(code, "cannot open " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout_ms));
    sqlite3_extended_result_codes(db_, 1);
    if (!options.read_only) {
        Exec("PRAGMA journal_mode = WAL");
    }
    Exec("PRAGMA foreign_keys = ON");
    // 64 MiB of page cache per connection: the journal's index pages stay in memory.
    Exec("PRAGMA cache_size = -65536");
    Exec("PRAGMA synchronous = " + std::string(options.synchronous == "normal" ? "NORMAL" : "FULL"));
}

Connection::~Connection() {
    cache_.clear();
    sqlite3_close(db_);
}

void Connection::Exec(std::string_view sql) {
    char* error = nullptr;
    const int code = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
    if (code != SQLITE_OK) {
        std::string message = error ? error : sqlite3_errstr(code);
        sqlite3_free(error);
        throw SqliteError(code, message);
    }
}

Statement& Connection::Cached(const std::string& sql) {
    auto& slot = cache_[sql];
    if (!slot) {
        slot = std::make_unique<Statement>(db_, sql);
    }
    slot->Reset();
    return *slot;
}

}  // namespace beta500::store
