#include "store/postgres.h"

#include <libpq-fe.h>

#include <charconv>

#include "core/config.h"  // RedactUrl
#include "store/migrations.h"

namespace beta500::store {
namespace {

// The advisory lock migrations take: one number for this application.
// The type of a boolean column (pg_type.oid of `bool`).
constexpr Oid kBoolOid = 16;

constexpr int64_t kMigrationLock = 0x62657461'35303030;  // "beta5000"

Error FromResult(const PGresult* result, PGconn* connection) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "";
    std::string message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(connection);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    if (PQstatus(connection) != CONNECTION_OK || sqlstate.starts_with("08") || sqlstate == "57P01") {
        return {ErrorCode::kUnavailable, "postgresql connection lost: " + message};
    }
    if (sqlstate == "40001" || sqlstate == "40P01") {
        return {ErrorCode::kUnavailable, message};
    }
    if (sqlstate.starts_with("23")) {
        return {ErrorCode::kFailedPrecondition, message};
    }
    return {ErrorCode::kInternal, message + (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")")};
}

}  // namespace

Error PgConnection::Failed(const PGresult* result) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    sqlstate_ = state != nullptr ? state : "";
    return FromResult(result, connection_);
}

int PgConnection::socket() const { return PQsocket(connection_); }

Result<std::vector<std::pair<std::string, std::string>>> PgConnection::Notifications() {
    if (PQconsumeInput(connection_) != 1) {
        return Error{ErrorCode::kUnavailable, "postgresql connection lost: " + std::string(PQerrorMessage(connection_))};
    }
    std::vector<std::pair<std::string, std::string>> notes;
    while (PGnotify* note = PQnotifies(connection_)) {
        notes.emplace_back(note->relname, note->extra);
        PQfreemem(note);
    }
    return notes;
}

PgRows::PgRows(PGresult* result) : result_(result) {}
PgRows::PgRows(PgRows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
PgRows::~PgRows() { PQclear(result_); }

int PgRows::size() const { return PQntuples(result_); }
bool PgRows::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
std::string PgRows::Text(int row, int column) const {
    return std::string(PQgetvalue(result_, row, column), static_cast<size_t>(PQgetlength(result_, row, column)));
}
std::string_view PgRows::View(int row, int column) const {
    return {PQgetvalue(result_, row, column), static_cast<size_t>(PQgetlength(result_, row, column))};
}

int64_t PgRows::Int(int row, int column) const {
    const char* text = PQgetvalue(result_, row, column);
    if (PQftype(result_, column) == kBoolOid) {
        return text[0] == 't' ? 1 : 0;
    }
    int64_t value = 0;
    std::from_chars(text, text + PQgetlength(result_, row, column), value);
    return value;
}
std::string PgRows::command() const { return PQcmdStatus(result_); }

int64_t PgRows::affected() const {
    const char* text = PQcmdTuples(result_);
    int64_t value = 0;
    std::from_chars(text, text + std::char_traits<char>::length(text), value);
    return value;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& url) {
    // A connection attempt gives up after 10 s unless the URL says otherwise (it comes later and wins).
    const char* keywords[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", url.c_str(), nullptr};
    PGconn* connection = PQconnectdbParams(keywords, values, 1);
    if (PQstatus(connection) != CONNECTION_OK) {
        std::string message = PQerrorMessage(connection);
        PQfinish(connection);
        while (!message.empty() && message.back() == '\n') {
            message.pop_back();
        }
        // libpq may quote the URL (a malformed one, say): never its password.
        for (size_t at = message.find(url); at != std::string::npos; at = message.find(url, at + 1)) {
            message.replace(at, url.size(), RedactUrl(url));
        }
        return Error{ErrorCode::kUnavailable, "cannot connect to postgresql: " + RedactUrl(message)};
    }
    // Quiet NOTICEs (they go to stderr otherwise), and UTC, so that times never depend on the server.
    PQsetNoticeProcessor(connection, [](void*, const char*) {}, nullptr);
    std::unique_ptr<PgConnection> opened(new PgConnection(connection));
    if (auto set = opened->Exec("SET TIME ZONE 'UTC'"); !set) {
        return set.error();
    }
    return opened;
}

PgConnection::~PgConnection() { PQfinish(connection_); }

bool PgConnection::ok() const { return PQstatus(connection_) == CONNECTION_OK; }

Status PgConnection::Reconnect() {
    if (ok()) {
        return Status::Ok();
    }
    PQreset(connection_);
    if (!ok()) {
        return Error{ErrorCode::kUnavailable, "postgresql unreachable: " + std::string(PQerrorMessage(connection_))};
    }
    auto set = Exec("SET TIME ZONE 'UTC'");
    return set ? Status::Ok() : Status(set.error());
}

Status PgConnection::Commit() {
    auto committed = Exec("COMMIT");
    if (!committed) {
        return committed.error();
    }
    if (committed->command() != "COMMIT") {
        return Error{ErrorCode::kUnavailable, "the transaction had failed and was rolled back"};
    }
    return Status::Ok();
}

Result<PgRows> PgConnection::Exec(std::string_view sql, const PgParams& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) {
        values.push_back(param ? param->c_str() : nullptr);
    }
    const std::string statement(sql);
    PGresult* result = PQexecParams(connection_, statement.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        Error error = Failed(result);
        PQclear(result);
        return error;
    }
    return PgRows(result);
}

PgCopyRows& PgCopyRows::Field(const std::optional<std::string>& value) {
    if (row_started_) {
        text_ += '\t';
    }
    row_started_ = true;
    if (!value) {
        text_ += "\\N";
        return *this;
    }
    for (const char c : *value) {
        switch (c) {
            case '\\': text_ += "\\\\"; break;
            case '\t': text_ += "\\t"; break;
            case '\n': text_ += "\\n"; break;
            case '\r': text_ += "\\r"; break;
            default: text_ += c;
        }
    }
    return *this;
}

PgCopyRows& PgCopyRows::Field(int64_t value) { return Field(std::optional<std::string>(std::to_string(value))); }

PgCopyRows& PgCopyRows::EndRow() {
    text_ += '\n';
    row_started_ = false;
    return *this;
}

Status PgConnection::Copy(const std::string& target, const PgCopyRows& rows) {
    PGresult* started = PQexec(connection_, ("COPY " + target + " FROM STDIN").c_str());
    if (PQresultStatus(started) != PGRES_COPY_IN) {
        Error error = Failed(started);
        PQclear(started);
        return error;
    }
    PQclear(started);
    const std::string& text = rows.text();
    if (PQputCopyData(connection_, text.data(), static_cast<int>(text.size())) != 1 ||
        PQputCopyEnd(connection_, nullptr) != 1) {
        return Error{ErrorCode::kUnavailable, "postgresql connection lost during COPY"};
    }
    Status status;
    while (PGresult* result = PQgetResult(connection_)) {
        if (PQresultStatus(result) != PGRES_COMMAND_OK && status) {
            status = Failed(result);
        }
        PQclear(result);
    }
    return status;
}

Status PgConnection::Script(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        Error error = Failed(result);
        PQclear(result);
        return error;
    }
    PQclear(result);
    return Status::Ok();
}

Result<int> MigratePostgres(PgConnection& connection, int64_t now_ms) {
    // Servers starting together take turns: the whole run under one session-level lock (even
    // CREATE TABLE IF NOT EXISTS races with itself otherwise).
    const std::string lock_key = std::to_string(kMigrationLock);
    if (auto locked = connection.Exec("SELECT pg_advisory_lock($1)", {lock_key}); !locked) {
        return locked.error();
    }
    auto run = [&]() -> Result<int> {
        if (auto created = connection.Exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
            !created) {
            return created.error();
        }
        int applied = 0;
        for (const Migration& migration : AllMigrations()) {
            if (migration.dialect != "postgres") {
                continue;
            }
            const std::string version = std::to_string(migration.version);
            auto seen = connection.Exec("SELECT 1 FROM schema_migrations WHERE version = $1", {version});
            if (!seen) {
                return seen.error();
            }
            if (seen->size() > 0) {
                continue;
            }
            // The migration and its record in one transaction.
            Status ran = connection.Script("BEGIN;\n" + migration.sql);
            if (ran) {
                auto recorded = connection.Exec(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    {version, migration.name, std::to_string(now_ms)});
                ran = recorded ? Status(connection.Script("COMMIT")) : Status(recorded.error());
            }
            if (!ran) {
                (void)connection.Exec("ROLLBACK");
                return Error{ran.error().code, "migration " + version + " (" + migration.name + "): " +
                                                   ran.error().message};
            }
            ++applied;
        }
        return applied;
    };
    auto applied = run();
    (void)connection.Exec("SELECT pg_advisory_unlock($1)", {lock_key});
    return applied;
}

}  // namespace beta500::store
