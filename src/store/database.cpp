#include "store/database.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <unordered_set>
#include <filesystem>
#include <unordered_map>

#include "core/crypto.h"
#include "store/migrations.h"
#include "store/sqlite_ledger_store.h"
#include "store/sql_catalog_store.h"
#include "store/sqlite_session_store.h"
#include "store/pg_ledger_store.h"
#include "store/pg_session_store.h"
#include "store/pg_sql.h"

namespace beta500::store {
namespace {

constexpr int64_t kDayMs = 86'400'000;

Error StorageError(const std::exception& error) {
    return Error{ErrorCode::kUnavailable, error.what()};
}

// 256-bit API tokens, prefixed so they are recognisable in a leaked-secret scan.
constexpr size_t kApiTokenBytes = 32;
constexpr const char* kApiTokenPrefix = "b5_";

void InsertAudit(SqlConnection& connection, const std::string& actor, const std::string& action,
                 const std::string& target, const std::string& before, const std::string& after,
                 int64_t now_ms) {
    connection
        .Cached("INSERT INTO admin_audit (actor, action, target, before, after, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)")
        .Bind(1, actor).Bind(2, action).Bind(3, target).Bind(4, before).Bind(5, after)
        .Bind(6, now_ms).Run();
}

// A JSON string literal (for audit records).
std::string Quoted(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        if (ch == '"' || ch == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", ch);
            out += escaped;
        } else {
            out.push_back(ch);
        }
    }
    return out + "\"";
}

void InsertOutbox(SqlConnection& connection, const std::string& to, const QueuedMail& mail, int64_t now_ms) {
    connection
        .Cached("INSERT INTO mail_outbox (to_address, template, subject, text_body, html_body, "
                "status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)")
        .Bind(1, to).Bind(2, mail.template_name).Bind(3, mail.subject).Bind(4, mail.text_body)
        .Bind(5, mail.html_body).Bind(6, now_ms).Bind(7, now_ms).Run();
}


}  // namespace

bool IsPostgresUrl(std::string_view url) {
    return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

Database::Database(Config::Database config, const Clock& clock, std::string path)
    : config_(std::move(config)), clock_(clock), path_(std::move(path)), postgres_(IsPostgresUrl(config_.url)) {}

Database::~Database() {
    if (lock_fd_ >= 0) {
        close(lock_fd_);
    }
}

Result<std::unique_ptr<Database>> Database::Open(const Config::Database& config, const Clock& clock) {
    std::error_code error;
    std::filesystem::create_directories(config.data_dir, error);
    if (error) {
        return Error{ErrorCode::kUnavailable,
                     "cannot create data directory " + config.data_dir + ": " + error.message()};
    }
    const std::string path = (std::filesystem::path(config.data_dir) / "beta500.sqlite3").string();
    std::unique_ptr<Database> database(new Database(config, clock, path));
    try {
        if (database->postgres_) {
            auto connection = PgConnection::Open(config.url);
            if (!connection) {
                return connection.error();
            }
            if (auto migrated = MigratePostgres(**connection, clock.NowMs()); !migrated) {
                return migrated.error();
            }
        } else {
            MigrateSqlite(*database->OpenSqlite(false), clock.NowMs());
        }
        if (Status loaded = database->RefreshSuspended(); !loaded) {
            return loaded.error();
        }
    } catch (const StoreError& failure) {
        return StorageError(failure);
    }
    return database;
}

Status Database::RefreshSuspended() {
    try {
        auto connection = Read();
        std::unordered_set<int64_t> suspended;
        SqlStatement& query = connection->Cached("SELECT id FROM users WHERE status = 'suspended'");
        while (query.Step()) {
            suspended.insert(query.Int(0));
        }
        query.Reset();
        std::lock_guard lock(suspended_mutex_);
        suspended_ = std::move(suspended);
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::LockExclusive() {
    if (postgres_) {
        return Status::Ok();  // any number of servers share one PostgreSQL
    }
    const std::string lock_path = (std::filesystem::path(config_.data_dir) / "beta500.lock").string();
    lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        return Error{ErrorCode::kFailedPrecondition,
                     "another beta500 server is using the data directory " + config_.data_dir};
    }
    return Status::Ok();
}

std::unique_ptr<Connection> Database::OpenSqlite(bool read_only) {
    return std::make_unique<Connection>(
        path_, Connection::Options{read_only, config_.synchronous, config_.busy_timeout_ms});
}

std::unique_ptr<PgConnection> Database::OpenPostgres() {
    auto connection = PgConnection::Open(config_.url);
    if (!connection) {
        throw StoreError(StoreError::Kind::kOther, connection.error().message);
    }
    return std::move(*connection);
}

std::unique_ptr<ledger::LedgerStore> Database::NewLedgerStore(const std::string& instance) {
    if (postgres_) {
        return std::make_unique<PgLedgerStore>(OpenPostgres(), instance);
    }
    return std::make_unique<SqliteLedgerStore>(OpenSqlite(false));
}

std::unique_ptr<live::SessionStore> Database::NewSessionStore() {
    if (postgres_) {
        return std::make_unique<PgSessionStore>(OpenPostgres());
    }
    return std::make_unique<SqliteSessionStore>(OpenSqlite(false));
}

std::unique_ptr<catalog::CatalogStore> Database::NewCatalogStore() {
    if (postgres_) {
        return std::make_unique<SqlCatalogStore>(std::make_unique<PgSqlConnection>(config_.url));
    }
    return std::make_unique<SqlCatalogStore>(OpenSqlite(false));
}

Database::Lease Database::Read() {
    std::unique_lock lock(pool_mutex_);
    for (;;) {
        if (!pool_.empty()) {
            auto connection = std::move(pool_.back());
            pool_.pop_back();
            return Lease(this, std::move(connection));
        }
        if (pool_open_ < config_.read_connections) {
            ++pool_open_;
            lock.unlock();
            try {
                if (postgres_) {
                    return Lease(this, std::make_unique<PgSqlConnection>(config_.url));
                }
                return Lease(this, OpenSqlite(true));
            } catch (...) {
                {
                    std::lock_guard relock(pool_mutex_);
                    --pool_open_;
                }
                pool_released_.notify_one();  // the slot is free for a waiter to try
                throw;
            }
        }
        pool_released_.wait(lock);
    }
}

Database::Lease Database::Write() {
    if (postgres_) {
        return Read();  // pooled connections write too; write transactions take turns (store/pg_sql.h)
    }
    return Lease(nullptr, OpenSqlite(false));
}

Database::Lease::~Lease() {
    if (connection_ && database_ != nullptr) {
        std::lock_guard lock(database_->pool_mutex_);
        database_->pool_.push_back(std::move(connection_));
        database_->pool_released_.notify_one();
    }
}

Status Database::Notify(const std::string& channel, const std::string& payload) {
    try {
        Write()->Notify(channel, payload);
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::Ping() {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached("SELECT 1");
        query.Step();
        query.Reset();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<BalanceView>> Database::Balance(int64_t user_id) {
    try {
        auto connection = Read();
        // One snapshot, so the account, its lots and its grants agree.
        ReadTransaction snapshot(*connection);
        SqlStatement& account_query = connection->Cached(
            std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE user_id = ?");
        account_query.Bind(1, user_id);
        if (!account_query.Step()) {
            account_query.Reset();
            return std::optional<BalanceView>{};
        }
        const ledger::Account account = ReadAccount(account_query, 0);
        account_query.Reset();
        BalanceView view;
        view.user_id = user_id;
        view.available = account.available();
        view.held = account.debits_pending;
        view.posted = account.posted();
        SqlStatement& granted = connection->Cached(
            "SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE credit_account_id = ? AND kind = 'grant'");
        granted.Bind(1, account.id);
        granted.Step();
        view.granted_total = granted.Int(0);
        granted.Reset();
        SqlStatement& lots = connection->Cached(
            std::string("SELECT ") + kLotColumns +
            " FROM lots WHERE account_id = ? AND remaining > 0 "
            "ORDER BY expires_at IS NULL, expires_at, created_at, id");
        lots.Bind(1, account.id);
        while (lots.Step()) {
            view.lots.push_back(ReadLot(lots, 0));
        }
        lots.Reset();
        return std::optional<BalanceView>{std::move(view)};
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<TransferView>> Database::Transfers(const TransferFilter& filter) {
    try {
        auto connection = Read();
        std::string sql =
            "SELECT t.id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.hold_id, "
            "t.lot_id, t.feature, t.reference, t.actor, t.reason, t.idempotency_key, t.created_at, "
            "d.name, c.name FROM transfers t JOIN accounts d ON d.id = t.debit_account_id "
            "JOIN accounts c ON c.id = t.credit_account_id WHERE t.id < ?1";
        if (filter.user_id) {
            sql += " AND (d.user_id = ?2 OR c.user_id = ?2)";
        }
        if (filter.kind) {
            sql += " AND t.kind = ?3";
        }
        if (filter.feature) {
            sql += " AND t.feature = ?4";
        }
        sql += " ORDER BY t.id DESC LIMIT ?5";
        SqlStatement& query = connection->Cached(sql);
        query.Bind(1, filter.before_id.value_or(INT64_MAX));
        if (filter.user_id) {
            query.Bind(2, *filter.user_id);
        }
        if (filter.kind) {
            query.Bind(3, ledger::TransferKindName(*filter.kind));
        }
        if (filter.feature) {
            query.Bind(4, *filter.feature);
        }
        query.Bind(5, filter.limit);
        std::vector<TransferView> out;
        while (query.Step()) {
            TransferView view;
            ledger::Transfer& t = view.transfer;
            t.id = query.Int(0);
            t.debit_account_id = query.Int(1);
            t.credit_account_id = query.Int(2);
            t.amount = query.Int(3);
            t.kind = *ledger::ParseTransferKind(query.Text(4));
            if (!query.IsNull(5)) {
                t.hold_id = query.Int(5);
            }
            if (!query.IsNull(6)) {
                t.lot_id = query.Int(6);
            }
            t.feature = query.Text(7);
            t.reference = query.Text(8);
            t.actor = query.Text(9);
            t.reason = query.Text(10);
            t.idempotency_key = query.Text(11);
            t.created_at_ms = query.Int(12);
            view.debit_account = query.Text(13);
            view.credit_account = query.Text(14);
            out.push_back(std::move(view));
        }
        query.Reset();
        return out;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<ApiToken>> Database::FindApiToken(std::string_view token) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT id, scope FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL");
        query.Bind(1, Sha256Hex(token));
        std::optional<ApiToken> found;
        if (query.Step()) {
            found = ApiToken{query.Int(0), query.Text(1)};
        }
        query.Reset();
        return found;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<int64_t> Database::CreateUser(const std::string& email, const std::string& role) {
    try {
        auto connection = Write();
        int64_t user_id = 0;
        const int64_t now_ms = clock_.NowMs();
        connection->Transaction([&] {
            // An operator's user is in the beta from the start (no invitation to consume).
            connection->Cached("INSERT INTO users (email, role, created_at, enrolled_at) VALUES (?, ?, ?, ?)")
                .Bind(1, email)
                .Bind(2, role)
                .Bind(3, now_ms)
                .Bind(4, now_ms)
                .Run();
            user_id = connection->LastInsertRowId();
            connection->Cached("INSERT INTO accounts (name, user_id, created_at) VALUES (?, ?, ?)")
                .Bind(1, "user:" + std::to_string(user_id))
                .Bind(2, user_id)
                .Bind(3, now_ms)
                .Run();
        });
        return user_id;
    } catch (const StoreError& error) {
        if (error.kind() == StoreError::Kind::kUnique) {
            return Error{ErrorCode::kAlreadyExists, "a user with this email already exists"};
        }
        if (error.kind() == StoreError::Kind::kConstraint) {
            return Error{ErrorCode::kInvalidArgument, "invalid user: " + std::string(error.what())};
        }
        return StorageError(error);
    }
}

Result<std::pair<int64_t, std::string>> Database::CreateApiToken(const std::string& scope,
                                                                 const std::string& name) {
    if (scope != "service" && scope != "admin") {
        return Error{ErrorCode::kInvalidArgument, "scope must be service or admin"};
    }
    try {
        auto connection = Write();
        const std::string token = kApiTokenPrefix + RandomToken(kApiTokenBytes);
        connection->Cached(
                "INSERT INTO api_tokens (token_hash, scope, name, created_at) VALUES (?, ?, ?, ?)")
            .Bind(1, Sha256Hex(token))
            .Bind(2, scope)
            .Bind(3, name)
            .Bind(4, clock_.NowMs())
            .Run();
        return std::make_pair(connection->LastInsertRowId(), token);
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<ledger::AuditInput> Database::LoadAudit(int64_t idempotency_ttl_ms) {
    try {
        if (postgres_) {
            return LoadAuditPostgres(*OpenPostgres(), clock_.NowMs(), idempotency_ttl_ms);
        }
        auto connection = Read();
        ReadTransaction snapshot(*connection);
        ledger::AuditInput input;
        // One pass over the journal per side: posted kinds move posted totals; hold adds to
        // pending, release and capture take from it.
        std::unordered_map<int64_t, std::array<int64_t, 4>> journal;  // account -> totals
        for (const char* side : {"credit", "debit"}) {
            const bool credit = side[0] == 'c';
            SqlStatement& sums = connection->Cached(
                std::string("SELECT ") + side + "_account_id, "
                "COALESCE(SUM(CASE WHEN kind IN ('grant', 'usage', 'capture', 'expire', 'adjust') "
                "THEN amount END), 0), "
                "COALESCE(SUM(CASE kind WHEN 'hold' THEN amount WHEN 'release' THEN -amount "
                "WHEN 'capture' THEN -amount END), 0) FROM transfers GROUP BY 1");
            while (sums.Step()) {
                auto& totals = journal[sums.Int(0)];
                totals[credit ? 0 : 1] = sums.Int(1);
                totals[credit ? 2 : 3] = sums.Int(2);
            }
            sums.Reset();
        }
        // Per-account sums in one pass each (a subquery per account would scan lots once per account).
        std::unordered_map<int64_t, std::array<int64_t, 3>> by_account;  // lots, out of range, held
        SqlStatement& lot_sums = connection->Cached(
            "SELECT account_id, SUM(remaining), SUM(remaining < 0 OR remaining > amount) FROM lots "
            "GROUP BY account_id");
        while (lot_sums.Step()) {
            by_account[lot_sums.Int(0)] = {lot_sums.Int(1), lot_sums.Int(2), 0};
        }
        lot_sums.Reset();
        SqlStatement& open_holds = connection->Cached(
            "SELECT account_id, SUM(amount - captured - released) FROM holds WHERE status = 'open' "
            "GROUP BY account_id");
        while (open_holds.Step()) {
            by_account[open_holds.Int(0)][2] = open_holds.Int(1);
        }
        open_holds.Reset();
        SqlStatement& accounts = connection->Cached(std::string("SELECT ") + kAccountColumns +
                                                 " FROM accounts a ORDER BY a.id");
        while (accounts.Step()) {
            ledger::Account account = ReadAccount(accounts, 0);
            const int64_t id = account.id;
            input.accounts.push_back(AccountAuditOf(std::move(account), journal[id], by_account[id]));
        }
        accounts.Reset();
        std::unordered_map<int64_t, std::array<int64_t, 3>> by_hold;  // hold -> held, captured, released
        SqlStatement& hold_sums = connection->Cached(
            "SELECT hold_id, COALESCE(SUM(CASE kind WHEN 'hold' THEN amount END), 0), "
            "COALESCE(SUM(CASE kind WHEN 'capture' THEN amount END), 0), "
            "COALESCE(SUM(CASE kind WHEN 'release' THEN amount END), 0) "
            "FROM transfers WHERE hold_id IS NOT NULL GROUP BY hold_id");
        while (hold_sums.Step()) {
            by_hold[hold_sums.Int(0)] = {hold_sums.Int(1), hold_sums.Int(2), hold_sums.Int(3)};
        }
        hold_sums.Reset();
        SqlStatement& holds = connection->Cached(std::string("SELECT ") + kHoldColumns + " FROM holds ORDER BY id");
        while (holds.Step()) {
            ledger::Hold hold = ReadHold(holds, 0);
            const int64_t id = hold.id;
            input.holds.push_back(HoldAuditOf(std::move(hold), by_hold[id]));
        }
        holds.Reset();
        SqlStatement& totals = connection->Cached(
            "SELECT COUNT(*), COALESCE(SUM(amount <= 0 OR debit_account_id = credit_account_id), 0) "
            "FROM transfers");
        totals.Step();
        input.transfers = totals.Int(0);
        input.malformed_transfers = totals.Int(1);
        totals.Reset();
        // Every keyed transfer (written by an API operation) has its record while it is kept.
        SqlStatement& orphans = connection->Cached(
            "SELECT COUNT(*) FROM transfers t WHERE t.idempotency_key <> '' AND t.created_at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.scope = t.actor "
            "AND k.key = t.idempotency_key)");
        orphans.Bind(1, clock_.NowMs() - idempotency_ttl_ms);
        orphans.Step();
        input.keyed_transfers_without_record = orphans.Int(0);
        orphans.Reset();
        // One operation writes its transfers at one instant with consecutive ids.
        SqlStatement& several = connection->Cached(
            "SELECT COUNT(*) FROM (SELECT actor, idempotency_key FROM transfers "
            "WHERE idempotency_key <> '' GROUP BY actor, idempotency_key "
            "HAVING COUNT(DISTINCT created_at) > 1 OR MAX(id) - MIN(id) + 1 <> COUNT(*))");
        several.Step();
        input.keys_with_several_effects = several.Int(0);
        several.Reset();
        return input;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<int64_t> Database::EnqueueMail(const std::string& to, const QueuedMail& mail) {
    try {
        auto connection = Write();
        InsertOutbox(*connection, to, mail, clock_.NowMs());
        return connection->LastInsertRowId();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<OutboxMail>> Database::DueMail(int64_t now_ms, int64_t limit) {
    // A worker that dies with mail in hand leaves it due again after this.
    constexpr int64_t kClaimMs = 120'000;
    try {
        auto connection = Write();
        // Claimed by moving the next attempt on: the outer condition is checked again against a
        // row another server's worker claimed meanwhile (PostgreSQL), so each mail goes to one.
        SqlStatement& query = connection->Cached(
            "UPDATE mail_outbox SET next_attempt_at = ?1 WHERE status = 'pending' AND next_attempt_at <= ?2 "
            "AND id IN (SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= ?2 "
            // Sign-in links expire: they go before invitations and other bulk mail.
            "ORDER BY template = 'magic_link' DESC, next_attempt_at, id LIMIT ?3) "
            "RETURNING id, to_address, template, subject, text_body, html_body, attempts");
        query.Bind(1, now_ms + kClaimMs).Bind(2, now_ms).Bind(3, limit);
        std::vector<OutboxMail> due;
        while (query.Step()) {
            due.push_back(OutboxMail{query.Int(0), query.Text(1), query.Text(2), query.Text(3),
                                     query.Text(4), query.Text(5), query.Int(6)});
        }
        query.Reset();
        std::sort(due.begin(), due.end(), [](const OutboxMail& a, const OutboxMail& b) {
            return std::make_pair(a.template_name != "magic_link", a.id) <
                   std::make_pair(b.template_name != "magic_link", b.id);
        });
        return due;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::MarkMailSent(int64_t id, int64_t now_ms) {
    try {
        auto connection = Write();
        // The bodies may hold single-use links: once delivered they are not kept.
        connection
            ->Cached("UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                     "text_body = '', html_body = '', last_error = '' WHERE id = ?")
            .Bind(1, now_ms).Bind(2, id).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::MarkMailFailed(int64_t id, int64_t attempts, int64_t next_attempt_at_ms, bool dead,
                                const std::string& error_text) {
    constexpr size_t kErrorBytesMax = 500;  // keeps a chatty SMTP reply from bloating the row
    try {
        auto connection = Write();
        connection
            ->Cached("UPDATE mail_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
                     "last_error = ? WHERE id = ?")
            .Bind(1, dead ? "dead" : "pending").Bind(2, attempts).Bind(3, next_attempt_at_ms)
            .Bind(4, error_text.substr(0, kErrorBytesMax)).Bind(5, id).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<OutboxEntry>> Database::ListMail(const std::optional<std::string>& status,
                                                    std::optional<int64_t> before_id, int64_t limit) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT id, to_address, template, subject, status, attempts, next_attempt_at, last_error, "
            "created_at, sent_at FROM mail_outbox WHERE id < ?1 AND (status = ?2 OR ?2 IS NULL) "
            "ORDER BY id DESC LIMIT ?3");
        query.Bind(1, before_id.value_or(INT64_MAX));
        if (status) {
            query.Bind(2, *status);
        }
        query.Bind(3, limit);
        std::vector<OutboxEntry> entries;
        while (query.Step()) {
            OutboxEntry entry{query.Int(0), query.Text(1), query.Text(2), query.Text(3), query.Text(4),
                              query.Int(5), query.Int(6), query.Text(7), query.Int(8), std::nullopt};
            if (!query.IsNull(9)) {
                entry.sent_at_ms = query.Int(9);
            }
            entries.push_back(std::move(entry));
        }
        query.Reset();
        return entries;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<RetryOutcome> Database::RetryMail(int64_t id, int64_t now_ms, const std::string& actor, bool discard) {
    try {
        auto connection = Write();
        RetryOutcome outcome = RetryOutcome::kNotFound;
        connection->Transaction([&] {
            SqlStatement& query = connection->Cached("SELECT status FROM mail_outbox WHERE id = ?");
            query.Bind(1, id);
            if (!query.Step()) {
                query.Reset();
                return;
            }
            const std::string status = query.Text(0);
            query.Reset();
            if (status != "dead") {
                outcome = RetryOutcome::kNotDead;
                return;
            }
            if (discard) {
                connection->Cached("DELETE FROM mail_outbox WHERE id = ?").Bind(1, id).Run();
                InsertAudit(*connection, actor, "mail.discard", "mail:" + std::to_string(id),
                            R"({"status":"dead"})", "null", now_ms);
            } else {
                connection
                    ->Cached("UPDATE mail_outbox SET status = 'pending', attempts = 0, "
                             "next_attempt_at = ? WHERE id = ?")
                    .Bind(1, now_ms).Bind(2, id).Run();
                InsertAudit(*connection, actor, "mail.retry", "mail:" + std::to_string(id),
                            R"({"status":"dead"})", R"({"status":"pending"})", now_ms);
            }
            outcome = RetryOutcome::kRetried;
        });
        return outcome;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

namespace {

constexpr const char* kInvitationColumns =
    "id, email, initial_credits, expires_at, note, inviter, status, created_at, consumed_at, "
    "consumed_by, revoked_at, last_sent_at, role";

std::optional<int64_t> OptionalInt(const SqlStatement& row, int column) {
    return row.IsNull(column) ? std::nullopt : std::optional<int64_t>(row.Int(column));
}

Invitation ReadInvitation(const SqlStatement& row) {
    return Invitation{row.Int(0),          row.Text(1),          row.Int(2),
                      OptionalInt(row, 3), row.Text(4),          row.Text(5),
                      row.Text(6),         row.Int(7),           OptionalInt(row, 8),
                      OptionalInt(row, 9), OptionalInt(row, 10), row.Int(11),
                      row.Text(12)};
}


}  // namespace

Result<InviteResult> Database::CreateInvitation(const NewInvitation& invitation,
                                                const QueuedMail& mail, int64_t cap) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        InviteResult result;
        connection->Transaction([&] {
            SqlStatement& user = connection->Cached("SELECT 1 FROM users WHERE email = ?");
            user.Bind(1, invitation.email);
            const bool enrolled = user.Step();
            user.Reset();
            if (enrolled) {
                result.outcome = InviteOutcome::kAlreadyEnrolled;
                return;
            }
            // An open invitation past its expiry no longer holds the email: close it first.
            connection->Cached("UPDATE invitations SET status = 'revoked', revoked_at = ?1 "
                               "WHERE email = ?2 AND status = 'open' AND expires_at <= ?1")
                .Bind(1, now_ms).Bind(2, invitation.email).Run();
            SqlStatement& open = connection->Cached(std::string("SELECT ") + kInvitationColumns +
                                                 " FROM invitations WHERE email = ? AND status = 'open'");
            open.Bind(1, invitation.email);
            if (open.Step()) {
                result.invitation = ReadInvitation(open);
                open.Reset();
                const Invitation& existing = *result.invitation;
                const bool same = existing.initial_credits == invitation.initial_credits &&
                                  existing.note == invitation.note && existing.role == invitation.role;
                result.outcome = same ? InviteOutcome::kUnchanged : InviteOutcome::kConflict;
                return;
            }
            open.Reset();
            SqlStatement& seats = connection->Cached(
                "SELECT (SELECT COUNT(*) FROM users WHERE role = 'user') + (SELECT COUNT(*) FROM "
                "invitations WHERE status = 'open' AND role = 'user' AND "
                "(expires_at IS NULL OR expires_at > ?))");
            seats.Bind(1, now_ms);
            seats.Step();
            result.seats_used = seats.Int(0);
            seats.Reset();
            if (result.seats_used >= cap) {
                result.outcome = InviteOutcome::kOverCap;
                return;
            }
            connection
                ->Cached("INSERT INTO invitations (email, initial_credits, expires_at, note, inviter, "
                         "status, created_at, last_sent_at, role) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)")
                .Bind(1, invitation.email).Bind(2, invitation.initial_credits)
                .Bind(3, invitation.expires_at_ms).Bind(4, invitation.note).Bind(5, invitation.inviter)
                .Bind(6, now_ms).Bind(7, now_ms).Bind(8, invitation.role).Run();
            const int64_t id = connection->LastInsertRowId();
            InsertOutbox(*connection, invitation.email, mail, now_ms);
            InsertAudit(*connection, invitation.inviter, "invitation.create", "invitation:" + std::to_string(id),
                        "{}",
                        "{\"email\":" + Quoted(invitation.email) + ",\"initial_credits\":" +
                            std::to_string(invitation.initial_credits) + ",\"role\":" +
                            Quoted(invitation.role) + ",\"status\":\"open\"}",
                        now_ms);
            result.invitation = Invitation{id, invitation.email, invitation.initial_credits,
                                           invitation.expires_at_ms, invitation.note,
                                           invitation.inviter, "open", now_ms, std::nullopt,
                                           std::nullopt, std::nullopt, now_ms, invitation.role};
            result.outcome = InviteOutcome::kCreated;
        });
        return result;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<Invitation>> Database::ListInvitations(const std::optional<std::string>& status,
                                                          const std::string& email_contains,
                                                          std::optional<int64_t> before_id,
                                                          int64_t limit) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            std::string("SELECT ") + kInvitationColumns +
            " FROM invitations WHERE id < ?1 AND (status = ?2 OR ?2 IS NULL) AND instr(email, ?3) > 0 "
            "ORDER BY id DESC LIMIT ?4");
        query.Bind(1, before_id.value_or(INT64_MAX));
        if (status) {
            query.Bind(2, *status);
        }
        query.Bind(3, email_contains).Bind(4, limit);
        std::vector<Invitation> out;
        while (query.Step()) {
            out.push_back(ReadInvitation(query));
        }
        query.Reset();
        return out;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<Invitation>> Database::FindInvitation(int64_t id) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(std::string("SELECT ") + kInvitationColumns +
                                              " FROM invitations WHERE id = ?");
        query.Bind(1, id);
        std::optional<Invitation> found;
        if (query.Step()) {
            found = ReadInvitation(query);
        }
        query.Reset();
        return found;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<InvitationChange> Database::RevokeInvitation(int64_t id, const std::string& actor) {
    try {
        auto connection = Write();
        InvitationChange change = InvitationChange::kNotFound;
        connection->Transaction([&] {
            connection->Cached("UPDATE invitations SET status = 'revoked', revoked_at = ? "
                               "WHERE id = ? AND status = 'open'")
                .Bind(1, clock_.NowMs()).Bind(2, id).Run();
            if (connection->Changes() == 1) {
                InsertAudit(*connection, actor, "invitation.revoke", "invitation:" + std::to_string(id),
                            R"({"status":"open"})", R"({"status":"revoked"})", clock_.NowMs());
                change = InvitationChange::kDone;
                return;
            }
            SqlStatement& exists = connection->Cached("SELECT 1 FROM invitations WHERE id = ?");
            exists.Bind(1, id);
            change = exists.Step() ? InvitationChange::kNotOpen : InvitationChange::kNotFound;
            exists.Reset();
        });
        return change;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<InvitationChange> Database::ResendInvitation(int64_t id, const QueuedMail& mail,
                                                    int64_t min_interval_ms, const std::string& actor) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        InvitationChange change = InvitationChange::kNotFound;
        connection->Transaction([&] {
            SqlStatement& query = connection->Cached(
                "SELECT email, status, expires_at, last_sent_at FROM invitations WHERE id = ?");
            query.Bind(1, id);
            if (!query.Step()) {
                query.Reset();
                return;
            }
            const std::string email = query.Text(0);
            const bool open = query.Text(1) == "open" && (query.IsNull(2) || query.Int(2) > now_ms);
            const int64_t last_sent_ms = query.Int(3);
            query.Reset();
            if (!open) {
                change = InvitationChange::kNotOpen;
            } else if (now_ms - last_sent_ms < min_interval_ms) {
                change = InvitationChange::kTooSoon;
            } else {
                connection->Cached("UPDATE invitations SET last_sent_at = ? WHERE id = ?")
                    .Bind(1, now_ms).Bind(2, id).Run();
                InsertOutbox(*connection, email, mail, now_ms);
                InsertAudit(*connection, actor, "invitation.resend", "invitation:" + std::to_string(id),
                            "{}", "{}", now_ms);
                change = InvitationChange::kDone;
            }
        });
        return change;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

namespace {

constexpr const char* kUserColumns =
    "id, email, role, status, email_verified, enrolled_at, created_at, display_name";

User ReadUser(const SqlStatement& row, int c) {
    return User{row.Int(c),          row.Text(c + 1),     row.Text(c + 2), row.Text(c + 3),
                row.Int(c + 4) != 0, OptionalInt(row, c + 5), row.Int(c + 6), row.Text(c + 7)};
}

// last_seen_at is written at most this often (a read per request stays a read).
constexpr int64_t kSessionTouchIntervalMs = 60'000;

}  // namespace

Result<bool> Database::MaySignIn(const std::string& email) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1 AND status = 'active') OR EXISTS "
            "(SELECT 1 FROM invitations WHERE email = ?1 AND status = 'open' AND "
            "(expires_at IS NULL OR expires_at > ?2))");
        query.Bind(1, email).Bind(2, clock_.NowMs());
        query.Step();
        const bool allowed = query.Int(0) != 0;
        query.Reset();
        return allowed;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<bool> Database::CreateSignInToken(const std::string& email, const std::string& purpose,
                                         const std::string& token_hash, int64_t ttl_ms,
                                         int64_t min_interval_ms, const QueuedMail& mail,
                                         const TokenBinding& binding) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        bool created = false;
        connection->Transaction([&] {
            SqlStatement& recent = connection->Cached(
                "SELECT 1 FROM sign_in_tokens WHERE email = ? AND purpose = ? AND created_at > ?");
            recent.Bind(1, email).Bind(2, purpose).Bind(3, now_ms - min_interval_ms);
            const bool too_soon = recent.Step();
            recent.Reset();
            if (too_soon) {
                return;
            }
            SqlStatement& insert = connection->Cached(
                "INSERT INTO sign_in_tokens (token_hash, email, purpose, expires_at, "
                "created_at, user_id, issuer, subject, browser_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
            insert.Bind(1, token_hash).Bind(2, email).Bind(3, purpose).Bind(4, now_ms + ttl_ms)
                .Bind(5, now_ms).Bind(6, binding.user_id);
            binding.issuer ? insert.Bind(7, *binding.issuer) : insert.BindNull(7);
            binding.subject ? insert.Bind(8, *binding.subject) : insert.BindNull(8);
            binding.browser_hash ? insert.Bind(9, *binding.browser_hash) : insert.BindNull(9);
            insert.Run();
            InsertOutbox(*connection, email, mail, now_ms);
            created = true;
        });
        return created;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<RedeemedToken>> Database::RedeemSignInToken(const std::string& token_hash,
                                                                 const std::string& purpose) {
    try {
        auto connection = Write();
        // One UPDATE decides: only the first redemption finds used_at still NULL.
        SqlStatement& redeem = connection->Cached(
            "UPDATE sign_in_tokens SET used_at = ?1 WHERE token_hash = ?2 AND purpose = ?3 "
            "AND used_at IS NULL AND expires_at > ?1 RETURNING email, user_id, issuer, subject, browser_hash");
        redeem.Bind(1, clock_.NowMs()).Bind(2, token_hash).Bind(3, purpose);
        std::optional<RedeemedToken> token;
        if (redeem.Step()) {
            token = RedeemedToken{redeem.Text(0), {}};
            if (!redeem.IsNull(1)) {
                token->binding.user_id = redeem.Int(1);
            }
            if (!redeem.IsNull(2) && !redeem.IsNull(3)) {
                token->binding.issuer = redeem.Text(2);
                token->binding.subject = redeem.Text(3);
            }
            if (!redeem.IsNull(4)) {
                token->binding.browser_hash = redeem.Text(4);
            }
        }
        redeem.Reset();
        return token;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

template <typename Key>
Result<std::optional<User>> Database::FindUserWhere(const char* column, const Key& key) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(std::string("SELECT ") + kUserColumns +
                                              " FROM users WHERE " + column + " = ?");
        query.Bind(1, key);
        std::optional<User> user;
        if (query.Step()) {
            user = ReadUser(query, 0);
        }
        query.Reset();
        return user;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<User>> Database::FindUser(int64_t id) { return FindUserWhere("id", id); }

Status Database::UnredeemSignInToken(const std::string& token_hash) {
    try {
        auto connection = Write();
        connection->Cached("UPDATE sign_in_tokens SET used_at = NULL WHERE token_hash = ?")
            .Bind(1, token_hash).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<User>> Database::FindUserByEmail(const std::string& email) {
    return FindUserWhere("email", email);
}

Result<std::optional<User>> Database::FindUserByIdentity(const std::string& issuer,
                                                         const std::string& subject) {
    std::optional<int64_t> id;
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT user_id FROM identities WHERE issuer = ? AND subject = ?");
        query.Bind(1, issuer).Bind(2, subject);
        if (query.Step()) {
            id = query.Int(0);
        }
        query.Reset();
        if (!id) {
            return std::optional<User>();
        }
    } catch (const StoreError& error) {
        return StorageError(error);
    }
    return FindUserWhere("id", *id);
}

Result<EmailChange> Database::ChangeEmail(int64_t user_id, const std::string& email) {
    try {
        auto connection = Write();
        EmailChange change = EmailChange::kNotFound;
        connection->Transaction([&] {
            SqlStatement& taken = connection->Cached("SELECT id FROM users WHERE email = ?");
            taken.Bind(1, email);
            const bool other = taken.Step() && taken.Int(0) != user_id;
            taken.Reset();
            if (other) {
                change = EmailChange::kTaken;
                return;
            }
            SqlStatement& update = connection->Cached(
                "UPDATE users SET email = ?, email_verified = 1 WHERE id = ? RETURNING id");
            update.Bind(1, email).Bind(2, user_id);
            change = update.Step() ? EmailChange::kChanged : EmailChange::kNotFound;
            update.Reset();
        });
        return change;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::CreateOidcLogin(const std::string& state_hash, const OidcLogin& login, int64_t ttl_ms) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        connection->Transaction([&] {
            connection->Cached("DELETE FROM oidc_logins WHERE expires_at <= ?").Bind(1, now_ms).Run();
            connection
                ->Cached("INSERT INTO oidc_logins (state_hash, browser_hash, provider, nonce, "
                         "code_verifier, return_to, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .Bind(1, state_hash).Bind(2, login.browser_hash).Bind(3, login.provider)
                .Bind(4, login.nonce).Bind(5, login.code_verifier).Bind(6, login.return_to)
                .Bind(7, now_ms + ttl_ms).Bind(8, now_ms).Run();
        });
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<OidcLogin>> Database::TakeOidcLogin(const std::string& state_hash) {
    try {
        auto connection = Write();
        SqlStatement& take = connection->Cached(
            "DELETE FROM oidc_logins WHERE state_hash = ? RETURNING browser_hash, provider, nonce, "
            "code_verifier, return_to, expires_at");
        take.Bind(1, state_hash);
        std::optional<OidcLogin> login;
        if (take.Step() && take.Int(5) > clock_.NowMs()) {
            login = OidcLogin{take.Text(0), take.Text(1), take.Text(2), take.Text(3), take.Text(4)};
        }
        take.Reset();
        return login;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::RecordAudit(const std::string& actor, const std::string& action, const std::string& target,
                             const std::string& before, const std::string& after) {
    try {
        auto connection = Write();
        InsertAudit(*connection, actor, action, target, before, after, clock_.NowMs());
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::MarkEmailVerified(int64_t user_id) {
    try {
        auto connection = Write();
        connection->Cached("UPDATE users SET email_verified = 1 WHERE id = ?").Bind(1, user_id).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<int64_t> Database::CreateSession(int64_t user_id, const std::string& token_hash,
                                        const std::string& csrf_token) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        connection
            ->Cached("INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, "
                     "last_seen_at) VALUES (?, ?, ?, ?, ?)")
            .Bind(1, token_hash).Bind(2, user_id).Bind(3, csrf_token).Bind(4, now_ms).Bind(5, now_ms).Run();
        return connection->LastInsertRowId();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<WebSession>> Database::FindSession(const std::string& token_hash,
                                                        int64_t idle_ms, int64_t absolute_ms) {
    try {
        const int64_t now_ms = clock_.NowMs();
        std::optional<WebSession> session;
        {
            auto connection = Read();
            SqlStatement& query = connection->Cached(
                std::string("SELECT s.id, s.csrf_token, s.created_at, s.last_seen_at, ") +
                "u.id, u.email, u.role, u.status, u.email_verified, u.enrolled_at, u.created_at, u.display_name "
                "FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? "
                "AND s.revoked_at IS NULL AND s.last_seen_at > ? AND s.created_at > ?");
            query.Bind(1, token_hash).Bind(2, now_ms - idle_ms).Bind(3, now_ms - absolute_ms);
            if (query.Step()) {
                session = WebSession{query.Int(0), ReadUser(query, 4), query.Text(1), query.Int(2),
                                     query.Int(3)};
            }
            query.Reset();
        }
        if (session && now_ms - session->last_seen_at_ms >= kSessionTouchIntervalMs) {
            try {
                auto connection = Write();
                connection->Cached("UPDATE web_sessions SET last_seen_at = ? WHERE id = ?")
                    .Bind(1, now_ms).Bind(2, session->id).Run();
            } catch (const StoreError&) {
                // Best effort: a busy database must not fail a request whose session is valid;
                // the next request tries again.
            }
        }
        return session;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::RevokeSession(int64_t id) {
    try {
        auto connection = Write();
        connection->Cached("UPDATE web_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .Bind(1, clock_.NowMs()).Bind(2, id).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<User>> Database::ListUsers(const std::optional<std::string>& status,
                                              const std::string& email_contains,
                                              std::optional<int64_t> before_id, int64_t limit) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            std::string("SELECT ") + kUserColumns +
            " FROM users WHERE id < ?1 AND (status = ?2 OR ?2 IS NULL) AND instr(email, ?3) > 0 "
            "ORDER BY id DESC LIMIT ?4");
        query.Bind(1, before_id.value_or(INT64_MAX));
        if (status) {
            query.Bind(2, *status);
        }
        query.Bind(3, email_contains).Bind(4, limit);
        std::vector<User> users;
        while (query.Step()) {
            users.push_back(ReadUser(query, 0));
        }
        query.Reset();
        return users;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<StatusChange> Database::SetUserStatus(int64_t id, const std::string& status,
                                             const std::string& actor) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        StatusChange change = StatusChange::kNotFound;
        connection->Transaction([&] {
            SqlStatement& query = connection->Cached("SELECT status FROM users WHERE id = ?");
            query.Bind(1, id);
            if (!query.Step()) {
                query.Reset();
                return;
            }
            const std::string before = query.Text(0);
            query.Reset();
            if (before == status) {
                change = StatusChange::kUnchanged;
                return;
            }
            connection->Cached("UPDATE users SET status = ? WHERE id = ?").Bind(1, status).Bind(2, id).Run();
            if (status == "suspended") {
                connection->Cached("UPDATE web_sessions SET revoked_at = ? WHERE user_id = ? "
                                   "AND revoked_at IS NULL")
                    .Bind(1, now_ms).Bind(2, id).Run();
            }
            connection->Notify(kUsersChannel, std::to_string(id) + " " + status);
            InsertAudit(*connection, actor, status == "suspended" ? "user.suspend" : "user.reactivate",
                        "user:" + std::to_string(id), "{\"status\":" + Quoted(before) + "}",
                        "{\"status\":" + Quoted(status) + "}", now_ms);
            change = StatusChange::kChanged;
        });
        if (change == StatusChange::kChanged) {
            std::lock_guard lock(suspended_mutex_);
            if (status == "suspended") {
                suspended_.insert(id);
            } else {
                suspended_.erase(id);
            }
        }
        return change;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

bool Database::IsSuspended(int64_t user_id) const {
    std::lock_guard lock(suspended_mutex_);
    return suspended_.contains(user_id);
}

Result<std::vector<AuditEntry>> Database::ListAudit(const std::optional<std::string>& target,
                                                    std::optional<int64_t> before_id, int64_t limit) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT id, actor, action, target, before, after, created_at FROM admin_audit "
            "WHERE id < ?1 AND (target = ?2 OR ?2 IS NULL) ORDER BY id DESC LIMIT ?3");
        query.Bind(1, before_id.value_or(INT64_MAX));
        if (target) {
            query.Bind(2, *target);
        }
        query.Bind(3, limit);
        std::vector<AuditEntry> entries;
        while (query.Step()) {
            entries.push_back(AuditEntry{query.Int(0), query.Text(1), query.Text(2), query.Text(3),
                                         query.Text(4), query.Text(5), query.Int(6)});
        }
        query.Reset();
        return entries;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::AddSignal(const std::string& kind, const std::string& key, std::optional<int64_t> user_id,
                          int64_t keep_ms) {
    try {
        auto connection = Write();
        const int64_t now_ms = clock_.NowMs();
        connection->Transaction([&] {
            connection->Cached("INSERT INTO fraud_signals (kind, key, user_id, created_at) VALUES (?, ?, ?, ?)")
                .Bind(1, kind).Bind(2, key).Bind(3, user_id).Bind(4, now_ms).Run();
            connection->Cached("DELETE FROM fraud_signals WHERE kind = ? AND key = ? AND created_at < ?")
                .Bind(1, kind).Bind(2, key).Bind(3, now_ms - keep_ms).Run();
        });
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

namespace {

template <typename Bind>
Result<int64_t> CountOne(SqlConnection& connection, const char* sql, Bind&& bind) {
    try {
        SqlStatement& query = connection.Cached(sql);
        bind(query);
        query.Step();
        const int64_t count = query.Int(0);
        query.Reset();
        return count;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

constexpr const char* kRiskColumns =
    "id, user_id, rule, action, score, evidence, status, created_at, decided_by, decided_at";

RiskEvent ReadRiskEvent(const SqlStatement& row) {
    RiskEvent event;
    event.id = row.Int(0);
    if (!row.IsNull(1)) {
        event.user_id = row.Int(1);
    }
    event.rule = row.Text(2);
    event.action = row.Text(3);
    event.score = row.Int(4);
    event.evidence = row.Text(5);
    event.status = row.Text(6);
    event.created_at_ms = row.Int(7);
    if (!row.IsNull(8)) {
        event.decided_by = row.Text(8);
    }
    if (!row.IsNull(9)) {
        event.decided_at_ms = row.Int(9);
    }
    return event;
}

}  // namespace

Result<int64_t> Database::CountSignals(const std::string& kind, const std::string& key, int64_t since_ms) {
    auto connection = Read();
    return CountOne(*connection, "SELECT COUNT(*) FROM fraud_signals WHERE kind = ? AND key = ? AND created_at >= ?",
                    [&](SqlStatement& q) { q.Bind(1, kind).Bind(2, key).Bind(3, since_ms); });
}

Result<int64_t> Database::CountSignalUsers(const std::string& kind, const std::string& key, int64_t since_ms) {
    auto connection = Read();
    return CountOne(*connection,
                    "SELECT COUNT(DISTINCT user_id) FROM fraud_signals WHERE kind = ? AND key = ? AND created_at >= ?",
                    [&](SqlStatement& q) { q.Bind(1, kind).Bind(2, key).Bind(3, since_ms); });
}

Result<int64_t> Database::CountSessionStarts(int64_t user_id, int64_t since_ms) {
    auto connection = Read();
    return CountOne(*connection, "SELECT COUNT(*) FROM live_sessions WHERE user_id = ? AND started_at >= ?",
                    [&](SqlStatement& q) { q.Bind(1, user_id).Bind(2, since_ms); });
}

Result<std::vector<Spend>> Database::RecentSpenders(int64_t window_ms, int64_t week_ms, std::optional<int64_t> user_id) {
    try {
        auto connection = Read();
        ReadTransaction snapshot(*connection);
        // The window from the journal (a short range of its time index); the week from the
        // daily sums (whole days since the week began).
        SqlStatement& window = connection->Cached(
            "SELECT a.user_id, SUM(t.amount) FROM transfers t JOIN accounts a ON a.id = t.debit_account_id "
            "WHERE t.created_at >= ?1 AND t.kind IN ('usage', 'capture') AND a.user_id IS NOT NULL "
            "AND (a.user_id = ?2 OR ?2 IS NULL) GROUP BY a.user_id");
        window.Bind(1, window_ms).Bind(2, user_id);
        std::vector<Spend> spenders;
        while (window.Step()) {
            spenders.push_back(Spend{window.Int(0), window.Int(1), 0});
        }
        window.Reset();
        SqlStatement& week = connection->Cached(
            "SELECT COALESCE(SUM(d.amount), 0) FROM usage_daily d JOIN accounts a ON a.id = d.account_id "
            "WHERE d.day_ms >= ? AND d.kind IN ('usage', 'capture') AND a.user_id = ?");
        for (Spend& spend : spenders) {
            week.Bind(1, week_ms - week_ms % kDayMs).Bind(2, spend.user_id);
            week.Step();
            spend.in_week = std::max(week.Int(0), spend.in_window);
            week.Reset();
        }
        return spenders;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Status Database::PurgeSignals(int64_t before_ms) {
    try {
        auto connection = Write();
        connection
            ->Cached("DELETE FROM fraud_signals WHERE id IN (SELECT id FROM fraud_signals WHERE created_at < ? "
                     "LIMIT 100000)")
            .Bind(1, before_ms).Run();
        return Status::Ok();
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<double> Database::CohortWeeklySpend(int64_t week_ms) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            "SELECT COALESCE(AVG(spent), 0) FROM (SELECT SUM(d.amount) AS spent FROM usage_daily d JOIN accounts a "
            "ON a.id = d.account_id WHERE d.day_ms >= ? AND d.kind IN ('usage', 'capture') "
            "AND a.user_id IS NOT NULL GROUP BY a.user_id) spenders");
        query.Bind(1, week_ms - week_ms % kDayMs);
        query.Step();
        const double average = static_cast<double>(query.Int(0));
        query.Reset();
        return average;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<int64_t> Database::RecordRiskEvent(std::optional<int64_t> user_id, const std::string& rule,
                                          const std::string& action, int64_t score, const std::string& evidence) {
    try {
        auto connection = Write();
        int64_t id = 0;
        connection->Transaction([&] {
            connection
                ->Cached("INSERT INTO risk_events (user_id, rule, action, score, evidence, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)")
                .Bind(1, user_id).Bind(2, rule).Bind(3, action).Bind(4, score).Bind(5, evidence)
                .Bind(6, clock_.NowMs()).Run();
            id = connection->LastInsertRowId();
            if (user_id) {
                connection->Cached("UPDATE users SET risk_score = risk_score + ? WHERE id = ?")
                    .Bind(1, score).Bind(2, *user_id).Run();
            }
        });
        return id;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::vector<RiskEvent>> Database::ListRiskEvents(const std::optional<std::string>& status,
                                                        std::optional<int64_t> user_id,
                                                        std::optional<int64_t> before_id, int64_t limit) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(
            std::string("SELECT ") + kRiskColumns +
            " FROM risk_events WHERE id < ?1 AND (status = ?2 OR ?2 IS NULL) AND (user_id = ?3 OR ?3 IS NULL) "
            "ORDER BY id DESC LIMIT ?4");
        query.Bind(1, before_id.value_or(INT64_MAX));
        status ? query.Bind(2, *status) : query.BindNull(2);
        query.Bind(3, user_id).Bind(4, limit);
        std::vector<RiskEvent> events;
        while (query.Step()) {
            events.push_back(ReadRiskEvent(query));
        }
        query.Reset();
        return events;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<std::optional<RiskEvent>> Database::FindRiskEvent(int64_t id) {
    try {
        auto connection = Read();
        SqlStatement& query = connection->Cached(std::string("SELECT ") + kRiskColumns + " FROM risk_events WHERE id = ?");
        query.Bind(1, id);
        std::optional<RiskEvent> event;
        if (query.Step()) {
            event = ReadRiskEvent(query);
        }
        query.Reset();
        return event;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<StatusChange> Database::DecideRiskEvent(int64_t id, const std::string& status, const std::string& actor) {
    try {
        auto connection = Write();
        StatusChange change = StatusChange::kNotFound;
        const int64_t now_ms = clock_.NowMs();
        connection->Transaction([&] {
            SqlStatement& find = connection->Cached("SELECT status FROM risk_events WHERE id = ?");
            find.Bind(1, id);
            const bool found = find.Step();
            const std::string before = found ? find.Text(0) : "";
            find.Reset();
            if (!found) {
                return;
            }
            if (before != "open") {
                change = StatusChange::kUnchanged;
                return;
            }
            connection
                ->Cached("UPDATE risk_events SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?")
                .Bind(1, status).Bind(2, actor).Bind(3, now_ms).Bind(4, id).Run();
            InsertAudit(*connection, actor, "risk_event." + status, "risk_event:" + std::to_string(id),
                        "{\"status\":\"open\"}", "{\"status\":" + Quoted(status) + "}", now_ms);
            change = StatusChange::kChanged;
        });
        return change;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

Result<int64_t> Database::RiskScore(int64_t user_id) {
    auto connection = Read();
    return CountOne(*connection, "SELECT COALESCE((SELECT risk_score FROM users WHERE id = ?), 0)",
                    [&](SqlStatement& q) { q.Bind(1, user_id); });
}

namespace {

// The start of the bucket holding `ms`; weeks start on Mondays (1970-01-05 was one).
int64_t BucketOf(int64_t ms, int64_t bucket_ms) {
    constexpr int64_t kMondayOffsetMs = 4 * 86'400'000LL;
    const int64_t offset = bucket_ms == 7 * 86'400'000LL ? kMondayOffsetMs : 0;
    const int64_t shifted = ms - offset;
    const int64_t floor = shifted >= 0 ? shifted / bucket_ms : (shifted - bucket_ms + 1) / bucket_ms;
    return floor * bucket_ms + offset;
}

}  // namespace

Result<UsageReport> Database::Usage(int64_t from_ms, int64_t to_ms, int64_t bucket_ms) {
    try {
        auto connection = Read();
        ReadTransaction snapshot(*connection);  // one consistent view for every figure
        UsageReport report;
        const int64_t first_bucket = BucketOf(from_ms, bucket_ms);
        const size_t bucket_count = static_cast<size_t>((to_ms - 1 - first_bucket) / bucket_ms + 1);
        std::vector<std::string> features;  // the few features seen, by index
        std::vector<std::vector<UsageReport::Credits>> credits(bucket_count);  // per bucket, per feature
        std::vector<int64_t> active(bucket_count, 0);
        struct Spender {
            size_t last_bucket = 0;  // the last bucket it spent in, + 1
            int64_t spent = 0;
        };
        std::unordered_map<int64_t, Spender> spenders;  // by wallet account
        std::unordered_map<int64_t, int64_t> adjusted;   // adjustments by debit account
        // One row of either source: `operations` transfers of `kind` summing to `amount`.
        auto add = [&](int64_t at_ms, std::string_view kind, std::string_view feature, int64_t amount,
                       int64_t operations, int64_t account) {
            if (kind == "usage" || kind == "capture") {
                const size_t bucket = static_cast<size_t>((at_ms - first_bucket) / bucket_ms);
                auto known = std::find(features.begin(), features.end(), feature);
                const size_t f = static_cast<size_t>(known - features.begin());
                if (known == features.end()) {
                    features.emplace_back(feature);
                }
                auto& row = credits[bucket];
                if (row.size() <= f) {
                    row.resize(f + 1);
                }
                row[f].credits += amount;
                row[f].operations += operations;
                report.spent += amount;
                if (kind == "usage") {
                    report.searches += feature == "ai_search" ? operations : 0;
                    report.recommendation_refreshes += feature == "ai_recommendations" ? operations : 0;
                }
                // Rows come in time order: an account is new to a bucket when its last one differs.
                Spender& spender = spenders[account];
                if (spender.last_bucket != bucket + 1) {
                    spender.last_bucket = bucket + 1;
                    ++active[bucket];
                }
                spender.spent += amount;
            } else if (kind == "grant") {
                report.granted += amount;
            } else if (kind == "expire") {
                report.expired += amount;
            } else if (kind == "adjust") {
                adjusted[account] += amount;
            }
        };
        // Whole days (for day and week buckets) come from usage_daily; the hours around them, and
        // every hour bucket, from the journal on its covering index transfers_by_time.
        const bool daily = bucket_ms % kDayMs == 0;
        const int64_t days_from = daily ? (from_ms + kDayMs - 1) / kDayMs * kDayMs : to_ms;
        const int64_t days_to = daily ? std::max(days_from, to_ms / kDayMs * kDayMs) : to_ms;
        SqlStatement& journal = connection->Cached(
            "SELECT created_at, kind, feature, amount, debit_account_id FROM transfers "
            "WHERE created_at >= ? AND created_at < ? ORDER BY created_at");
        auto scan_journal = [&](int64_t begin, int64_t end) {
            journal.Bind(1, begin).Bind(2, end);
            while (journal.Step()) {
                add(journal.Int(0), journal.TextView(1), journal.TextView(2), journal.Int(3), 1, journal.Int(4));
            }
            journal.Reset();
        };
        const int64_t head_end = std::min(days_from, to_ms);
        scan_journal(from_ms, head_end);
        if (days_from < days_to) {
            SqlStatement& days = connection->Cached(
                "SELECT day_ms, kind, feature, amount, operations, account_id FROM usage_daily "
                "WHERE day_ms >= ? AND day_ms < ? ORDER BY day_ms");
            days.Bind(1, days_from).Bind(2, days_to);
            while (days.Step()) {
                add(days.Int(0), days.TextView(1), days.TextView(2), days.Int(3), days.Int(4), days.Int(5));
            }
            days.Reset();
        }
        scan_journal(std::max(days_to, head_end), to_ms);
        // Adjustments count into wallets as positive, out of them as negative.
        SqlStatement& wallet = connection->Cached("SELECT user_id IS NOT NULL FROM accounts WHERE id = ?");
        for (const auto& [account, amount] : adjusted) {
            wallet.Bind(1, account);
            const bool out_of_wallet = wallet.Step() && wallet.Int(0) != 0;
            wallet.Reset();
            report.adjusted += out_of_wallet ? -amount : amount;
        }
        for (size_t bucket = 0; bucket < bucket_count; ++bucket) {
            std::vector<UsageReport::Credits> row;
            for (size_t f = 0; f < credits[bucket].size(); ++f) {
                if (credits[bucket][f].operations > 0) {
                    auto entry = credits[bucket][f];
                    entry.bucket_ms = first_bucket + static_cast<int64_t>(bucket) * bucket_ms;
                    entry.feature = features[f];
                    row.push_back(std::move(entry));
                }
            }
            std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.feature < b.feature; });
            report.credits.insert(report.credits.end(), row.begin(), row.end());
        }
        std::vector<UsageReport::Bucket> buckets(bucket_count);
        for (size_t bucket = 0; bucket < bucket_count; ++bucket) {
            buckets[bucket].bucket_ms = first_bucket + static_cast<int64_t>(bucket) * bucket_ms;
            buckets[bucket].active_users = active[bucket];
        }
        SqlStatement& sessions = connection->Cached(
            "SELECT started_at, active_ms FROM live_sessions WHERE started_at >= ? AND started_at < ?");
        sessions.Bind(1, from_ms).Bind(2, to_ms);
        while (sessions.Step()) {
            auto& bucket = buckets[static_cast<size_t>((sessions.Int(0) - first_bucket) / bucket_ms)];
            ++bucket.sessions;
            bucket.session_minutes += sessions.Int(1) / 60'000;
        }
        sessions.Reset();
        report.buckets = std::move(buckets);
        // The ten biggest spenders, with their addresses.
        std::vector<std::pair<int64_t, int64_t>> ranked;
        for (const auto& [account, spender] : spenders) {
            ranked.emplace_back(account, spender.spent);
        }
        std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
            return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        SqlStatement& owner = connection->Cached(
            "SELECT u.id, u.email FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.id = ?");
        for (const auto& [account, amount] : ranked) {
            if (report.top_users.size() == 10) {
                break;
            }
            owner.Bind(1, account);
            if (owner.Step()) {
                report.top_users.push_back(UsageReport::TopUser{owner.Int(0), owner.Text(1), amount});
            }
            owner.Reset();
        }
        SqlStatement& funnel = connection->Cached(
            "SELECT (SELECT COUNT(*) FROM invitations WHERE created_at >= ?1 AND created_at < ?2), "
            "(SELECT COUNT(*) FROM users WHERE enrolled_at >= ?1 AND enrolled_at < ?2), "
            "(SELECT COUNT(*) FROM users u WHERE u.enrolled_at >= ?1 AND u.enrolled_at < ?2 AND EXISTS "
            "(SELECT 1 FROM accounts a JOIN transfers t ON t.debit_account_id = a.id WHERE a.user_id = u.id "
            "AND t.kind IN ('usage', 'capture') AND t.created_at >= ?3 AND t.created_at < ?2))");
        funnel.Bind(1, from_ms).Bind(2, to_ms).Bind(3, to_ms - 7 * 86'400'000LL);
        funnel.Step();
        report.invited = funnel.Int(0);
        report.enrolled = funnel.Int(1);
        report.active_7d = funnel.Int(2);
        funnel.Reset();
        return report;
    } catch (const StoreError& error) {
        return StorageError(error);
    }
}

}  // namespace beta500::store
