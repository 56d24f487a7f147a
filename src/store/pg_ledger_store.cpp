#include "store/pg_ledger_store.h"

#include <array>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "core/assert.h"
#include "store/sqlite_ledger_store.h"  // kAccountColumns, kHoldColumns, kLotColumns

namespace beta500::store {
namespace {

// The advisory lock a batch holds on PostgreSQL: the writers of all servers take turns.
constexpr int64_t kLedgerLock = 0x62657461'35303032;

constexpr int64_t kDayMs = 86'400'000;

std::string Str(int64_t value) { return std::to_string(value); }

// PostgreSQL array literals, for unnest($n::type[]): every element quoted and escaped.
class ArrayOf {
   public:
    ArrayOf& Add(const std::optional<std::string>& value) {
        text_ += text_.empty() ? "{" : ",";
        if (!value) {
            text_ += "NULL";
            return *this;
        }
        text_ += '"';
        for (const char c : *value) {
            if (c == '"' || c == '\\') {
                text_ += '\\';
            }
            text_ += c;
        }
        text_ += '"';
        return *this;
    }
    ArrayOf& Add(int64_t value) { return Add(std::optional<std::string>(Str(value))); }
    std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

   private:
    std::string text_;
};

ledger::Account ReadAccount(const PgRows& rows, int r) {
    ledger::Account account;
    account.id = rows.Int(r, 0);
    account.name = rows.Text(r, 1);
    if (!rows.IsNull(r, 2)) {
        account.user_id = rows.Int(r, 2);
    }
    account.credits_posted = rows.Int(r, 3);
    account.debits_posted = rows.Int(r, 4);
    account.credits_pending = rows.Int(r, 5);
    account.debits_pending = rows.Int(r, 6);
    return account;
}

ledger::Hold ReadHold(const PgRows& rows, int r) {
    ledger::Hold hold;
    hold.id = rows.Int(r, 0);
    hold.account_id = rows.Int(r, 1);
    hold.feature = rows.Text(r, 2);
    hold.amount = rows.Int(r, 3);
    hold.captured = rows.Int(r, 4);
    hold.released = rows.Int(r, 5);
    const auto status = ledger::ParseHoldStatus(rows.Text(r, 6));
    B5_ASSERT(status.has_value(), "unknown hold status in the database");
    hold.status = *status;
    hold.expires_at_ms = rows.Int(r, 7);
    hold.created_at_ms = rows.Int(r, 8);
    return hold;
}

ledger::Lot ReadLot(const PgRows& rows, int r) {
    ledger::Lot lot;
    lot.id = rows.Int(r, 0);
    lot.account_id = rows.Int(r, 1);
    lot.amount = rows.Int(r, 2);
    lot.remaining = rows.Int(r, 3);
    lot.expires_at_ms = rows.IsNull(r, 4) ? ledger::kNeverExpires : rows.Int(r, 4);
    lot.created_at_ms = rows.Int(r, 5);
    return lot;
}

std::string Select(const char* columns, const char* rest) { return std::string("SELECT ") + columns + " " + rest; }

}  // namespace

Status PgLedgerStore::Begin() {
    prefetched_.clear();
    wallets_.clear();
    wallet_of_user_.clear();
    holds_.clear();
    if (Status connected = db_->Reconnect(); !connected) {
        return connected;
    }
    // Writers on every server take turns: one batch at a time holds the ledger's lock, and
    // reads the version the last commit left, to know whether its cache is still the truth.
    Status locked = db_->Script("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kLedgerLock) + ")");
    if (!locked) {
        (void)db_->Exec("ROLLBACK");
        return locked;
    }
    auto version = db_->Exec("SELECT version FROM ledger_version");
    if (!version || version->size() != 1) {
        Rollback();
        return version ? Error{ErrorCode::kInternal, "ledger_version must hold one row"} : Status(version.error());
    }
    stale_ = version->Int(0, 0) != version_;
    return Status::Ok();
}

void PgLedgerStore::Rollback() { (void)db_->Exec("ROLLBACK"); }

Result<ledger::NextIds> PgLedgerStore::LoadNextIds() {
    auto rows = db_->Exec(
        "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM transfers), (SELECT COALESCE(MAX(id), 0) + 1 FROM lots), "
        "(SELECT COALESCE(MAX(id), 0) + 1 FROM holds)");
    if (!rows) {
        return rows.error();
    }
    return ledger::NextIds{rows->Int(0, 0), rows->Int(0, 1), rows->Int(0, 2)};
}

Result<std::optional<ledger::WalletRows>> PgLedgerStore::LoadWallet(const char* column, int64_t key) {
    // The wallet's row stays locked until the batch ends: another server's writer waits for it.
    auto account = db_->Exec(Select(kAccountColumns, "FROM accounts WHERE user_id IS NOT NULL AND ") + column +
                                 " = $1 FOR UPDATE",
                             {Str(key)});
    if (!account) {
        return account.error();
    }
    if (account->size() == 0) {
        return std::optional<ledger::WalletRows>();
    }
    ledger::WalletRows wallet;
    wallet.account = ReadAccount(*account, 0);
    auto lots = db_->Exec(Select(kLotColumns, "FROM lots WHERE account_id = $1 AND remaining > 0"),
                          {Str(wallet.account.id)});
    auto holds = lots ? db_->Exec(Select(kHoldColumns, "FROM holds WHERE account_id = $1 AND status = 'open'"),
                                  {Str(wallet.account.id)})
                      : Result<PgRows>(lots.error());
    if (!holds) {
        return holds.error();
    }
    for (int r = 0; r < lots->size(); ++r) {
        wallet.lots.push_back(ReadLot(*lots, r));
    }
    for (int r = 0; r < holds->size(); ++r) {
        wallet.open_holds.push_back(ReadHold(*holds, r));
    }
    return std::optional<ledger::WalletRows>(std::move(wallet));
}

Result<std::optional<ledger::WalletRows>> PgLedgerStore::LoadWalletByUser(int64_t user_id) {
    if (auto known = wallet_of_user_.find(user_id); known != wallet_of_user_.end()) {
        return known->second == 0 ? std::optional<ledger::WalletRows>() : LoadWalletByAccount(known->second);
    }
    return LoadWallet("user_id", user_id);
}

Result<std::optional<ledger::WalletRows>> PgLedgerStore::LoadWalletByAccount(int64_t account_id) {
    if (auto known = wallets_.find(account_id); known != wallets_.end()) {
        return std::optional<ledger::WalletRows>(known->second);
    }
    return LoadWallet("id", account_id);
}

Status PgLedgerStore::PrefetchWallets(const std::vector<int64_t>& user_ids, const std::vector<int64_t>& hold_ids) {
    if (user_ids.empty() && hold_ids.empty()) {
        return Status::Ok();
    }
    ArrayOf users, holds, accounts;
    for (const int64_t id : user_ids) {
        users.Add(id);
        wallet_of_user_.emplace(id, 0);
    }
    for (const int64_t id : hold_ids) {
        holds.Add(id);
        holds_.emplace(id, std::nullopt);
    }
    auto held = db_->Exec(Select(kHoldColumns, "FROM holds WHERE id = ANY($1::bigint[])"), {holds.str()});
    if (!held) {
        return held.error();
    }
    for (int r = 0; r < held->size(); ++r) {
        ledger::Hold hold = ReadHold(*held, r);
        accounts.Add(hold.account_id);
        holds_[hold.id] = std::move(hold);
    }
    // In id order, so that writers of several servers lock wallets in the same order.
    auto wallets = db_->Exec(Select(kAccountColumns, "FROM accounts WHERE user_id IS NOT NULL AND (user_id = ANY($1::bigint[]) "
                                                     "OR id = ANY($2::bigint[])) ORDER BY id FOR UPDATE"),
                             {users.str(), accounts.str()});
    if (!wallets) {
        return wallets.error();
    }
    ArrayOf found;
    for (int r = 0; r < wallets->size(); ++r) {
        ledger::WalletRows rows;
        rows.account = ReadAccount(*wallets, r);
        found.Add(rows.account.id);
        wallet_of_user_[*rows.account.user_id] = rows.account.id;
        wallets_.emplace(rows.account.id, std::move(rows));
    }
    auto lots = db_->Exec(Select(kLotColumns, "FROM lots WHERE account_id = ANY($1::bigint[]) AND remaining > 0"),
                          {found.str()});
    auto open = lots ? db_->Exec(Select(kHoldColumns, "FROM holds WHERE account_id = ANY($1::bigint[]) AND status = 'open'"),
                                 {found.str()})
                     : Result<PgRows>(lots.error());
    if (!open) {
        return open.error();
    }
    for (int r = 0; r < lots->size(); ++r) {
        ledger::Lot lot = ReadLot(*lots, r);
        wallets_[lot.account_id].lots.push_back(std::move(lot));
    }
    for (int r = 0; r < open->size(); ++r) {
        ledger::Hold hold = ReadHold(*open, r);
        wallets_[hold.account_id].open_holds.push_back(std::move(hold));
    }
    return Status::Ok();
}

Result<std::optional<ledger::Hold>> PgLedgerStore::LoadHold(int64_t hold_id) {
    if (auto known = holds_.find(hold_id); known != holds_.end()) {
        return known->second;
    }
    auto rows = db_->Exec(Select(kHoldColumns, "FROM holds WHERE id = $1"), {Str(hold_id)});
    if (!rows) {
        return rows.error();
    }
    return rows->size() == 0 ? std::optional<ledger::Hold>() : std::optional<ledger::Hold>(ReadHold(*rows, 0));
}

Result<ledger::Account> PgLedgerStore::LoadOrCreateSystemAccount(const std::string& name, int64_t now_ms) {
    auto inserted = db_->Exec("INSERT INTO accounts (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                              {name, Str(now_ms)});
    auto rows = inserted ? db_->Exec(Select(kAccountColumns, "FROM accounts WHERE name = $1"), {name})
                         : Result<PgRows>(inserted.error());
    if (!rows) {
        return rows.error();
    }
    B5_ASSERT(rows->size() == 1, "system account missing after insert");
    const ledger::Account account = ReadAccount(*rows, 0);
    B5_ASSERT(!account.is_wallet(), "a system account name belongs to a wallet");
    return account;
}

Status PgLedgerStore::PrefetchIdempotency(const std::vector<std::pair<std::string, std::string>>& keys) {
    if (keys.empty()) {
        return Status::Ok();
    }
    ArrayOf scopes, names;
    for (const auto& [scope, key] : keys) {
        scopes.Add(scope), names.Add(key);
        prefetched_.emplace(scope + '\n' + key, std::nullopt);
    }
    auto rows = db_->Exec(
        "SELECT k.scope, k.key, k.request_hash, k.rejection, k.response FROM idempotency_keys k "
        "JOIN unnest($1::text[], $2::text[]) AS w(scope, key) ON k.scope = w.scope AND k.key = w.key",
        {scopes.str(), names.str()});
    if (!rows) {
        prefetched_.clear();
        return rows.error();
    }
    for (int r = 0; r < rows->size(); ++r) {
        prefetched_[rows->Text(r, 0) + '\n' + rows->Text(r, 1)] = ledger::StoredResponse{
            rows->Text(r, 2), static_cast<ledger::Rejection>(rows->Int(r, 3)), rows->Text(r, 4)};
    }
    return Status::Ok();
}

Result<std::optional<ledger::StoredResponse>> PgLedgerStore::LoadIdempotency(const std::string& scope,
                                                                             const std::string& key) {
    if (auto found = prefetched_.find(scope + '\n' + key); found != prefetched_.end()) {
        return found->second;
    }
    auto rows = db_->Exec("SELECT request_hash, rejection, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
                          {scope, key});
    if (!rows) {
        return rows.error();
    }
    if (rows->size() == 0) {
        return std::optional<ledger::StoredResponse>();
    }
    return std::optional<ledger::StoredResponse>(ledger::StoredResponse{
        rows->Text(0, 0), static_cast<ledger::Rejection>(rows->Int(0, 1)), rows->Text(0, 2)});
}

Result<ledger::Enrollment> PgLedgerStore::Enroll(const ledger::Enroll& op, int64_t now_ms) {
    ledger::Enrollment enrollment;
    if (op.identity) {
        auto linked = db_->Exec("SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2",
                                {op.identity->issuer, op.identity->subject});
        if (!linked) {
            return linked.error();
        }
        if (linked->size() > 0) {
            enrollment.user_id = linked->Int(0, 0);
            return enrollment;
        }
    }
    auto link = [&]() -> Status {
        if (!op.display_name.empty()) {
            if (auto named = db_->Exec("UPDATE users SET display_name = $1 WHERE id = $2 AND display_name = ''",
                                       {op.display_name, Str(enrollment.user_id)});
                !named) {
                return named.error();
            }
        }
        if (op.identity) {
            if (auto linked = db_->Exec("INSERT INTO identities (issuer, subject, user_id, email, created_at) "
                                        "VALUES ($1, $2, $3, $4, $5)",
                                        {op.identity->issuer, op.identity->subject, Str(enrollment.user_id), op.email,
                                         Str(now_ms)});
                !linked) {
                return linked.error();
            }
        }
        return Status::Ok();
    };
    auto user = db_->Exec("SELECT id FROM users WHERE email = $1", {op.email});
    if (!user) {
        return user.error();
    }
    if (user->size() > 0) {
        enrollment.user_id = user->Int(0, 0);
        if (Status linked = link(); !linked) {
            return linked.error();
        }
        return enrollment;
    }
    auto invitation = db_->Exec(
        "SELECT id, initial_credits, role FROM invitations WHERE email = $1 AND status = 'open' "
        "AND (expires_at IS NULL OR expires_at > $2) FOR UPDATE",
        {op.email, Str(now_ms)});
    if (!invitation) {
        return invitation.error();
    }
    if (invitation->size() == 0) {
        enrollment.rejection = ledger::Rejection::kNotInvited;
        return enrollment;
    }
    enrollment.invitation_id = invitation->Int(0, 0);
    enrollment.initial_credits = invitation->Int(0, 1);
    auto created = db_->Exec(
        "INSERT INTO users (email, role, email_verified, enrolled_at, invitation_id, created_at) "
        "VALUES ($1, $2, 1, $3, $4, $3) RETURNING id",
        {op.email, invitation->Text(0, 2), Str(now_ms), Str(enrollment.invitation_id)});
    if (!created) {
        return created.error();
    }
    enrollment.user_id = created->Int(0, 0);
    auto wallet = db_->Exec("INSERT INTO accounts (name, user_id, created_at) VALUES ($1, $2, $3)",
                            {"user:" + Str(enrollment.user_id), Str(enrollment.user_id), Str(now_ms)});
    auto consumed = wallet ? db_->Exec("UPDATE invitations SET status = 'consumed', consumed_at = $1, consumed_by = $2 "
                                       "WHERE id = $3",
                                       {Str(now_ms), Str(enrollment.user_id), Str(enrollment.invitation_id)})
                           : Result<PgRows>(wallet.error());
    if (!consumed) {
        return consumed.error();
    }
    if (Status linked = link(); !linked) {
        return linked.error();
    }
    enrollment.created = true;
    return enrollment;
}

Result<std::vector<int64_t>> PgLedgerStore::DueWalletAccounts(int64_t now_ms, int64_t limit) {
    auto rows = db_->Exec(
        "SELECT account_id FROM lots WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1 "
        "UNION SELECT account_id FROM holds WHERE status = 'open' AND expires_at <= $1 LIMIT $2",
        {Str(now_ms), Str(limit)});
    if (!rows) {
        return rows.error();
    }
    std::vector<int64_t> ids;
    for (int r = 0; r < rows->size(); ++r) {
        ids.push_back(rows->Int(r, 0));
    }
    return ids;
}

Status PgLedgerStore::Write(const ledger::Batch& batch, ledger::LedgerState& state) {
    auto run = [&](const char* sql, const PgParams& params) -> Status {
        auto done = db_->Exec(sql, params);
        return done ? Status::Ok() : Status(done.error());
    };
    if (!batch.new_holds.empty()) {
        ArrayOf id, account, feature, amount, captured, released, status, expires, created;
        for (const ledger::Hold& fresh : batch.new_holds) {
            // Written as it is now (it may have moved again within the batch).
            const ledger::Hold& hold = state.FindHold(fresh.id) ? *state.FindHold(fresh.id) : fresh;
            id.Add(hold.id), account.Add(hold.account_id), feature.Add(hold.feature), amount.Add(hold.amount);
            captured.Add(hold.captured), released.Add(hold.released);
            status.Add(std::string(ledger::HoldStatusName(hold.status)));
            expires.Add(hold.expires_at_ms), created.Add(hold.created_at_ms);
        }
        if (Status s = run("INSERT INTO holds (id, account_id, feature, amount, captured, released, status, expires_at, "
                           "created_at) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], "
                           "$5::bigint[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[])",
                           {id.str(), account.str(), feature.str(), amount.str(), captured.str(), released.str(),
                            status.str(), expires.str(), created.str()});
            !s) {
            return s;
        }
    }
    if (!batch.new_lots.empty()) {
        ArrayOf id, account, amount, expires, created;
        for (const ledger::Lot& lot : batch.new_lots) {
            // The remainder is written below with the account's other lots.
            id.Add(lot.id), account.Add(lot.account_id), amount.Add(lot.amount), created.Add(lot.created_at_ms);
            expires.Add(lot.expires_at_ms == ledger::kNeverExpires ? std::optional<std::string>()
                                                                    : std::optional<std::string>(Str(lot.expires_at_ms)));
        }
        if (Status s = run("INSERT INTO lots (id, account_id, amount, remaining, expires_at, created_at) "
                           "SELECT i, a, n, n, e, c FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], "
                           "$4::bigint[], $5::bigint[]) AS v(i, a, n, e, c)",
                           {id.str(), account.str(), amount.str(), expires.str(), created.str()});
            !s) {
            return s;
        }
    }
    if (!batch.transfers.empty()) {
        PgCopyRows rows;
        std::map<std::tuple<int64_t, int64_t, std::string, std::string>, std::pair<int64_t, int64_t>> days;
        for (const ledger::Transfer& t : batch.transfers) {
            const std::string kind_name(ledger::TransferKindName(t.kind));
            rows.Field(t.id).Field(t.debit_account_id).Field(t.credit_account_id).Field(t.amount).Field(kind_name)
                .Field(t.hold_id ? std::optional<std::string>(Str(*t.hold_id)) : std::nullopt)
                .Field(t.lot_id ? std::optional<std::string>(Str(*t.lot_id)) : std::nullopt)
                .Field(t.feature).Field(t.reference).Field(t.actor).Field(t.reason).Field(t.idempotency_key)
                .Field(t.created_at_ms).EndRow();
            auto& [sum, operations] = days[{t.created_at_ms - t.created_at_ms % kDayMs, t.debit_account_id, kind_name,
                                            t.feature}];
            sum += t.amount;
            ++operations;
        }
        if (Status s = db_->Copy("transfers (id, debit_account_id, credit_account_id, amount, kind, hold_id, lot_id, "
                                 "feature, reference, actor, reason, idempotency_key, created_at)",
                                 rows);
            !s) {
            return s;
        }
        // The day's usage sums, in the same transaction: usage analytics read whole days there.
        ArrayOf day, account, day_kind, day_feature, sums, counts;
        for (const auto& [k, v] : days) {
            day.Add(std::get<0>(k)), account.Add(std::get<1>(k)), day_kind.Add(std::get<2>(k));
            day_feature.Add(std::get<3>(k)), sums.Add(v.first), counts.Add(v.second);
        }
        if (Status s = run("INSERT INTO usage_daily (day_ms, account_id, kind, feature, amount, operations) "
                           "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], "
                           "$6::bigint[]) ON CONFLICT (day_ms, account_id, kind, feature) DO UPDATE SET "
                           "amount = usage_daily.amount + excluded.amount, "
                           "operations = usage_daily.operations + excluded.operations",
                           {day.str(), account.str(), day_kind.str(), day_feature.str(), sums.str(), counts.str()});
            !s) {
            return s;
        }
    }
    if (!notify_as_.empty()) {
        std::vector<ledger::WalletBalance> balances;
        for (int64_t account_id : batch.dirty_accounts) {
            const ledger::Account* account = state.FindAccount(account_id);
            if (account != nullptr && account->is_wallet()) {
                balances.push_back({*account->user_id, account->available(), account->debits_pending,
                                    account->posted(), account->credits_posted});
            }
        }
        if (!balances.empty()) {
            ArrayOf payloads;
            for (const std::string& payload : BalancePayloads(notify_as_, balances)) {
                payloads.Add(payload);
            }
            // Delivered to the other servers when (and only if) the batch commits.
            if (Status s = run("SELECT pg_notify($2, p) FROM unnest($1::text[]) p", {payloads.str(), kBalanceChannel});
                !s) {
                return s;
            }
        }
    }
    if (!batch.dirty_accounts.empty()) {
        ArrayOf id, cp, dp, cpe, dpe;
        for (int64_t account_id : batch.dirty_accounts) {
            const ledger::Account* account = state.FindAccount(account_id);
            B5_ASSERT(account != nullptr, "dirty account not in state");
            id.Add(account_id), cp.Add(account->credits_posted), dp.Add(account->debits_posted);
            cpe.Add(account->credits_pending), dpe.Add(account->debits_pending);
        }
        if (Status s = run("UPDATE accounts a SET credits_posted = v.cp, debits_posted = v.dp, credits_pending = v.cpe, "
                           "debits_pending = v.dpe FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], "
                           "$4::bigint[], $5::bigint[]) AS v(id, cp, dp, cpe, dpe) WHERE a.id = v.id",
                           {id.str(), cp.str(), dp.str(), cpe.str(), dpe.str()});
            !s) {
            return s;
        }
    }
    if (!batch.lot_remaining.empty()) {
        ArrayOf id, remaining;
        for (const auto& [lot_id, left] : batch.lot_remaining) {
            id.Add(lot_id), remaining.Add(left);
        }
        if (Status s = run("UPDATE lots l SET remaining = v.r FROM unnest($1::bigint[], $2::bigint[]) AS v(id, r) "
                           "WHERE l.id = v.id",
                           {id.str(), remaining.str()});
            !s) {
            return s;
        }
    }
    if (!batch.dirty_holds.empty()) {
        ArrayOf id, amount, captured, released, status, expires;
        for (int64_t hold_id : batch.dirty_holds) {
            const ledger::Hold* hold = state.FindHold(hold_id);
            B5_ASSERT(hold != nullptr, "dirty hold not in state");
            id.Add(hold_id), amount.Add(hold->amount), captured.Add(hold->captured), released.Add(hold->released);
            status.Add(std::string(ledger::HoldStatusName(hold->status))), expires.Add(hold->expires_at_ms);
        }
        if (Status s = run("UPDATE holds h SET amount = v.n, captured = v.c, released = v.r, status = v.s, "
                           "expires_at = v.e FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], "
                           "$5::text[], $6::bigint[]) AS v(id, n, c, r, s, e) WHERE h.id = v.id",
                           {id.str(), amount.str(), captured.str(), released.str(), status.str(), expires.str()});
            !s) {
            return s;
        }
    }
    if (!batch.idempotency.empty()) {
        PgCopyRows rows;
        for (const ledger::IdempotencyRecord& record : batch.idempotency) {
            rows.Field(record.scope).Field(record.key).Field(record.request_hash)
                .Field(static_cast<int64_t>(record.rejection)).Field(record.response).Field(record.created_at_ms)
                .EndRow();
        }
        if (Status s = db_->Copy("idempotency_keys (scope, key, request_hash, rejection, response, created_at)", rows);
            !s) {
            return s;
        }
    }
    // Only a batch that changed what writers cache moves the version (an expiry run with nothing
    // due, or a batch of refusals and replays, leaves other servers' caches valid).
    const bool changed = !batch.transfers.empty() || !batch.new_lots.empty() || !batch.new_holds.empty() ||
                         !batch.dirty_accounts.empty() || !batch.lot_remaining.empty() || !batch.dirty_holds.empty();
    auto version = db_->Exec(changed ? "UPDATE ledger_version SET version = version + 1 RETURNING version"
                                     : "SELECT version FROM ledger_version");
    if (!version) {
        return version.error();
    }
    if (Status committed = db_->Commit(); !committed) {
        return committed;
    }
    version_ = version->Int(0, 0);
    return Status::Ok();
}

Status PgLedgerStore::Commit(const ledger::Batch& batch, ledger::LedgerState& state) {
    Status written = Write(batch, state);
    if (!written) {
        version_ = -1;  // whether it committed is unknown: the next batch reloads
        Rollback();
    }
    return written;
}

Result<int64_t> PgLedgerStore::PurgeIdempotency(int64_t before_ms, int64_t limit) {
    prefetched_.clear();  // a purged key is new again
    // As on SQLite: ids grow with time, so delete the oldest ids up to the first record still
    // kept, which an index walk from the oldest finds at once.
    auto purged = db_->Exec(
        "DELETE FROM idempotency_keys WHERE id < COALESCE((SELECT id FROM idempotency_keys WHERE created_at >= $1 "
        "ORDER BY id LIMIT 1), 9223372036854775807) AND id < (SELECT MIN(id) FROM idempotency_keys) + $2",
        {Str(before_ms), Str(limit)});
    if (!purged) {
        return purged.error();
    }
    return purged->affected();
}

Result<ledger::AuditInput> LoadAuditPostgres(PgConnection& db, int64_t now_ms, int64_t idempotency_ttl_ms) {
    auto query = [&](const std::string& sql, const PgParams& params = {}) { return db.Exec(sql, params); };
    if (auto begun = query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !begun) {
        return begun.error();
    }
    auto fail = [&](const Error& error) -> Result<ledger::AuditInput> {
        (void)query("ROLLBACK");
        return error;
    };
    ledger::AuditInput input;
    // One pass over the journal per side, as the SQLite audit does.
    std::unordered_map<int64_t, std::array<int64_t, 4>> journal;
    for (const char* side : {"credit", "debit"}) {
        const bool credit = side[0] == 'c';
        auto sums = query(std::string("SELECT ") + side + "_account_id, "
                          "COALESCE(SUM(CASE WHEN kind IN ('grant', 'usage', 'capture', 'expire', 'adjust') "
                          "THEN amount END), 0), COALESCE(SUM(CASE kind WHEN 'hold' THEN amount WHEN 'release' "
                          "THEN -amount WHEN 'capture' THEN -amount END), 0) FROM transfers GROUP BY 1");
        if (!sums) {
            return fail(sums.error());
        }
        for (int r = 0; r < sums->size(); ++r) {
            auto& totals = journal[sums->Int(r, 0)];
            totals[credit ? 0 : 1] = sums->Int(r, 1);
            totals[credit ? 2 : 3] = sums->Int(r, 2);
        }
    }
    std::unordered_map<int64_t, std::array<int64_t, 3>> by_account;  // lots, out of range, held
    auto lots = query("SELECT account_id, SUM(remaining), COUNT(*) FILTER (WHERE remaining < 0 OR remaining > amount) "
                      "FROM lots GROUP BY account_id");
    auto holds_open = lots ? query("SELECT account_id, SUM(amount - captured - released) FROM holds "
                                   "WHERE status = 'open' GROUP BY account_id")
                           : Result<PgRows>(lots.error());
    auto accounts = holds_open ? query(Select(kAccountColumns, "FROM accounts ORDER BY id"))
                               : Result<PgRows>(holds_open.error());
    if (!accounts) {
        return fail(accounts.error());
    }
    for (int r = 0; r < lots->size(); ++r) {
        by_account[lots->Int(r, 0)] = {lots->Int(r, 1), lots->Int(r, 2), 0};
    }
    for (int r = 0; r < holds_open->size(); ++r) {
        by_account[holds_open->Int(r, 0)][2] = holds_open->Int(r, 1);
    }
    for (int r = 0; r < accounts->size(); ++r) {
        ledger::Account account = ReadAccount(*accounts, r);
        const int64_t id = account.id;
        input.accounts.push_back(AccountAuditOf(std::move(account), journal[id], by_account[id]));
    }
    auto hold_sums = query(
        "SELECT hold_id, COALESCE(SUM(amount) FILTER (WHERE kind = 'hold'), 0), "
        "COALESCE(SUM(amount) FILTER (WHERE kind = 'capture'), 0), "
        "COALESCE(SUM(amount) FILTER (WHERE kind = 'release'), 0) FROM transfers WHERE hold_id IS NOT NULL "
        "GROUP BY hold_id");
    auto holds = hold_sums ? query(Select(kHoldColumns, "FROM holds ORDER BY id")) : Result<PgRows>(hold_sums.error());
    auto totals = holds ? query("SELECT COUNT(*), COUNT(*) FILTER (WHERE amount <= 0 OR debit_account_id = "
                                "credit_account_id) FROM transfers")
                        : Result<PgRows>(holds.error());
    auto orphans = totals ? query("SELECT COUNT(*) FROM transfers t WHERE t.idempotency_key <> '' AND t.created_at >= $1 "
                                  "AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.scope = t.actor "
                                  "AND k.key = t.idempotency_key)",
                                  {Str(now_ms - idempotency_ttl_ms)})
                          : Result<PgRows>(totals.error());
    auto several = orphans ? query("SELECT COUNT(*) FROM (SELECT actor, idempotency_key FROM transfers "
                                   "WHERE idempotency_key <> '' GROUP BY actor, idempotency_key "
                                   "HAVING COUNT(DISTINCT created_at) > 1 OR MAX(id) - MIN(id) + 1 <> COUNT(*)) k")
                           : Result<PgRows>(orphans.error());
    if (!several) {
        return fail(several.error());
    }
    std::unordered_map<int64_t, std::array<int64_t, 3>> by_hold;
    for (int r = 0; r < hold_sums->size(); ++r) {
        by_hold[hold_sums->Int(r, 0)] = {hold_sums->Int(r, 1), hold_sums->Int(r, 2), hold_sums->Int(r, 3)};
    }
    for (int r = 0; r < holds->size(); ++r) {
        ledger::Hold hold = ReadHold(*holds, r);
        const int64_t id = hold.id;
        input.holds.push_back(HoldAuditOf(std::move(hold), by_hold[id]));
    }
    input.transfers = totals->Int(0, 0);
    input.malformed_transfers = totals->Int(0, 1);
    input.keyed_transfers_without_record = orphans->Int(0, 0);
    input.keys_with_several_effects = several->Int(0, 0);
    (void)query("COMMIT");
    return input;
}

std::vector<std::string> BalancePayloads(const std::string& instance,
                                         const std::vector<ledger::WalletBalance>& balances) {
    // Well under PostgreSQL's 8,000-byte limit on a payload.
    constexpr size_t kPayloadBytes = 7000;
    std::vector<std::string> payloads;
    std::string payload;
    for (const auto& b : balances) {
        if (payload.empty()) {
            payload = instance;
        }
        payload += '\n' + std::to_string(b.user_id) + ' ' + std::to_string(b.available) + ' ' + std::to_string(b.held) +
                   ' ' + std::to_string(b.posted) + ' ' + std::to_string(b.received);
        if (payload.size() > kPayloadBytes) {
            payloads.push_back(std::move(payload));
            payload.clear();
        }
    }
    if (!payload.empty()) {
        payloads.push_back(std::move(payload));
    }
    return payloads;
}

std::vector<ledger::WalletBalance> ParseBalancePayload(const std::string& payload, std::string* instance) {
    std::istringstream in(payload);
    std::getline(in, *instance);
    std::vector<ledger::WalletBalance> balances;
    ledger::WalletBalance b;
    while (in >> b.user_id >> b.available >> b.held >> b.posted >> b.received) {
        balances.push_back(b);
    }
    return balances;
}

}  // namespace beta500::store
