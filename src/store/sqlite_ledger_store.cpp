#include "store/sqlite_ledger_store.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "core/assert.h"

namespace beta500::store {
namespace {

constexpr int64_t kDayMs = 86'400'000;

Error StorageError(const std::exception& error) {
    return Error{ErrorCode::kUnavailable, error.what()};
}

std::string Sql(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (std::string_view part : parts) {
        out += part;
    }
    return out;
}

constexpr const char* kTransferInsert =
    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, hold_id, lot_id, "
    "feature, reference, actor, reason, idempotency_key, created_at)";
constexpr const char* kIdempotencyInsert =
    "INSERT INTO idempotency_keys (scope, key, request_hash, rejection, response, created_at)";

}  // namespace

ledger::Account ReadAccount(const SqlStatement& row, int c) {
    ledger::Account account;
    account.id = row.Int(c);
    account.name = row.Text(c + 1);
    if (!row.IsNull(c + 2)) {
        account.user_id = row.Int(c + 2);
    }
    account.credits_posted = row.Int(c + 3);
    account.debits_posted = row.Int(c + 4);
    account.credits_pending = row.Int(c + 5);
    account.debits_pending = row.Int(c + 6);
    return account;
}

ledger::Hold ReadHold(const SqlStatement& row, int c) {
    ledger::Hold hold;
    hold.id = row.Int(c);
    hold.account_id = row.Int(c + 1);
    hold.feature = row.Text(c + 2);
    hold.amount = row.Int(c + 3);
    hold.captured = row.Int(c + 4);
    hold.released = row.Int(c + 5);
    const auto status = ledger::ParseHoldStatus(row.Text(c + 6));
    B5_ASSERT(status.has_value(), "unknown hold status in the database");
    hold.status = *status;
    hold.expires_at_ms = row.Int(c + 7);
    hold.created_at_ms = row.Int(c + 8);
    return hold;
}

ledger::Lot ReadLot(const SqlStatement& row, int c) {
    ledger::Lot lot;
    lot.id = row.Int(c);
    lot.account_id = row.Int(c + 1);
    lot.amount = row.Int(c + 2);
    lot.remaining = row.Int(c + 3);
    lot.expires_at_ms = row.IsNull(c + 4) ? ledger::kNeverExpires : row.Int(c + 4);
    lot.created_at_ms = row.Int(c + 5);
    return lot;
}

ledger::AccountAudit AccountAuditOf(ledger::Account stored, const std::array<int64_t, 4>& journal,
                                    const std::array<int64_t, 3>& sums) {
    ledger::AccountAudit audit;
    audit.stored = std::move(stored);
    audit.journal_credits_posted = journal[0];
    audit.journal_debits_posted = journal[1];
    audit.journal_credits_pending = journal[2];
    audit.journal_debits_pending = journal[3];
    audit.lots_remaining = sums[0];
    audit.lots_out_of_range = sums[1];
    audit.open_holds_remaining = sums[2];
    return audit;
}

ledger::HoldAudit HoldAuditOf(ledger::Hold stored, const std::array<int64_t, 3>& journal) {
    ledger::HoldAudit audit;
    audit.stored = std::move(stored);
    audit.journal_amount = journal[0];
    audit.journal_captured = journal[1];
    audit.journal_released = journal[2];
    return audit;
}

Status SqliteLedgerStore::Begin() {
    try {
        connection_->Cached("BEGIN IMMEDIATE").Run();
        return Status::Ok();
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

void SqliteLedgerStore::Rollback() { connection_->RollbackIfOpen(); }

Result<ledger::NextIds> SqliteLedgerStore::LoadNextIds() {
    try {
        auto next = [&](const char* table) {
            Statement& query =
                connection_->Cached(std::string("SELECT COALESCE(MAX(id), 0) + 1 FROM ") + table);
            query.Step();
            const int64_t id = query.Int(0);
            query.Reset();
            return id;
        };
        return ledger::NextIds{next("transfers"), next("lots"), next("holds")};
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

std::optional<ledger::WalletRows> SqliteLedgerStore::LoadWallet(const char* where, int64_t key) {
    Statement& account_query = connection_->Cached(
        Sql({"SELECT ", kAccountColumns, " FROM accounts WHERE user_id IS NOT NULL AND ", where, " = ?"}));
    account_query.Bind(1, key);
    if (!account_query.Step()) {
        account_query.Reset();
        return std::nullopt;
    }
    ledger::WalletRows rows;
    rows.account = ReadAccount(account_query, 0);
    account_query.Reset();
    Statement& lots = connection_->Cached(
        Sql({"SELECT ", kLotColumns, " FROM lots WHERE account_id = ? AND remaining > 0"}));
    lots.Bind(1, rows.account.id);
    while (lots.Step()) {
        rows.lots.push_back(ReadLot(lots, 0));
    }
    lots.Reset();
    Statement& holds = connection_->Cached(
        Sql({"SELECT ", kHoldColumns, " FROM holds WHERE account_id = ? AND status = 'open'"}));
    holds.Bind(1, rows.account.id);
    while (holds.Step()) {
        rows.open_holds.push_back(ReadHold(holds, 0));
    }
    holds.Reset();
    return rows;
}

Result<std::optional<ledger::WalletRows>> SqliteLedgerStore::LoadWalletByUser(int64_t user_id) {
    try {
        return LoadWallet("user_id", user_id);
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<std::optional<ledger::WalletRows>> SqliteLedgerStore::LoadWalletByAccount(int64_t account_id) {
    try {
        return LoadWallet("id", account_id);
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<std::optional<ledger::Hold>> SqliteLedgerStore::LoadHold(int64_t hold_id) {
    try {
        Statement& query = connection_->Cached(Sql({"SELECT ", kHoldColumns, " FROM holds WHERE id = ?"}));
        query.Bind(1, hold_id);
        std::optional<ledger::Hold> hold;
        if (query.Step()) {
            hold = ReadHold(query, 0);
        }
        query.Reset();
        return hold;
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<ledger::Account> SqliteLedgerStore::LoadOrCreateSystemAccount(const std::string& name,
                                                                     int64_t now_ms) {
    try {
        connection_->Cached("INSERT OR IGNORE INTO accounts (name, created_at) VALUES (?, ?)")
            .Bind(1, name)
            .Bind(2, now_ms)
            .Run();
        Statement& query =
            connection_->Cached(Sql({"SELECT ", kAccountColumns, " FROM accounts WHERE name = ?"}));
        query.Bind(1, name);
        B5_ASSERT(query.Step(), "system account missing after insert");
        const ledger::Account account = ReadAccount(query, 0);
        query.Reset();
        B5_ASSERT(!account.is_wallet(), "a system account name belongs to a wallet");
        return account;
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<std::optional<ledger::StoredResponse>> SqliteLedgerStore::LoadIdempotency(
    const std::string& scope, const std::string& key) {
    try {
        Statement& query = connection_->Cached(
            "SELECT request_hash, rejection, response FROM idempotency_keys WHERE scope = ? AND key = ?");
        query.Bind(1, scope).Bind(2, key);
        std::optional<ledger::StoredResponse> stored;
        if (query.Step()) {
            stored = ledger::StoredResponse{query.Text(0),
                                            static_cast<ledger::Rejection>(query.Int(1)),
                                            query.Text(2)};
        }
        query.Reset();
        return stored;
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<ledger::Enrollment> SqliteLedgerStore::Enroll(const ledger::Enroll& op, int64_t now_ms) {
    try {
        const std::string& email = op.email;
        ledger::Enrollment enrollment;
        if (op.identity) {
            Statement& linked = connection_->Cached(
                "SELECT user_id FROM identities WHERE issuer = ? AND subject = ?");
            linked.Bind(1, op.identity->issuer).Bind(2, op.identity->subject);
            const bool found = linked.Step();
            enrollment.user_id = found ? linked.Int(0) : 0;
            linked.Reset();
            if (found) {
                return enrollment;
            }
        }
        auto link = [&] {
            if (!op.display_name.empty()) {
                connection_->Cached("UPDATE users SET display_name = ? WHERE id = ? AND display_name = ''")
                    .Bind(1, op.display_name).Bind(2, enrollment.user_id).Run();
            }
            if (op.identity) {
                connection_
                    ->Cached("INSERT INTO identities (issuer, subject, user_id, email, created_at) "
                             "VALUES (?, ?, ?, ?, ?)")
                    .Bind(1, op.identity->issuer).Bind(2, op.identity->subject)
                    .Bind(3, enrollment.user_id).Bind(4, email).Bind(5, now_ms).Run();
            }
        };
        Statement& user = connection_->Cached("SELECT id FROM users WHERE email = ?");
        user.Bind(1, email);
        if (user.Step()) {
            enrollment.user_id = user.Int(0);
            user.Reset();
            link();
            return enrollment;
        }
        user.Reset();
        Statement& invitation = connection_->Cached(
            "SELECT id, initial_credits, role FROM invitations WHERE email = ? AND status = 'open' "
            "AND (expires_at IS NULL OR expires_at > ?)");
        invitation.Bind(1, email).Bind(2, now_ms);
        if (!invitation.Step()) {
            invitation.Reset();
            enrollment.rejection = ledger::Rejection::kNotInvited;
            return enrollment;
        }
        enrollment.invitation_id = invitation.Int(0);
        enrollment.initial_credits = invitation.Int(1);
        const std::string role = invitation.Text(2);
        invitation.Reset();
        connection_
            ->Cached("INSERT INTO users (email, role, email_verified, enrolled_at, invitation_id, "
                     "created_at) VALUES (?, ?, 1, ?, ?, ?)")
            .Bind(1, email).Bind(2, role).Bind(3, now_ms).Bind(4, enrollment.invitation_id)
            .Bind(5, now_ms).Run();
        enrollment.user_id = connection_->LastInsertRowId();
        connection_->Cached("INSERT INTO accounts (name, user_id, created_at) VALUES (?, ?, ?)")
            .Bind(1, "user:" + std::to_string(enrollment.user_id))
            .Bind(2, enrollment.user_id)
            .Bind(3, now_ms)
            .Run();
        connection_
            ->Cached("UPDATE invitations SET status = 'consumed', consumed_at = ?, consumed_by = ? "
                     "WHERE id = ?")
            .Bind(1, now_ms).Bind(2, enrollment.user_id).Bind(3, enrollment.invitation_id).Run();
        link();
        enrollment.created = true;
        return enrollment;
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

Result<std::vector<int64_t>> SqliteLedgerStore::DueWalletAccounts(int64_t now_ms, int64_t limit) {
    try {
        Statement& query = connection_->Cached(
            "SELECT account_id FROM lots WHERE remaining > 0 AND expires_at IS NOT NULL AND "
            "expires_at <= ?1 UNION SELECT account_id FROM holds WHERE status = 'open' AND "
            "expires_at <= ?1 LIMIT ?2");
        query.Bind(1, now_ms).Bind(2, limit);
        std::vector<int64_t> ids;
        while (query.Step()) {
            ids.push_back(query.Int(0));
        }
        query.Reset();
        return ids;
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

template <typename Row, typename BindRow>
void SqliteLedgerStore::InsertRows(const std::vector<Row>& rows, const char* insert_prefix,
                                   int columns, BindRow bind_row) {
    // Several rows per statement: the per-statement cost of SQLite is paid once per chunk.
    size_t done = 0;
    while (done < rows.size()) {
        const size_t count = std::min(rows.size() - done, kRowsPerInsert);
        std::string row_placeholders = "(?";
        for (int column = 1; column < columns; ++column) {
            row_placeholders += ",?";
        }
        row_placeholders += ")";
        std::string sql = insert_prefix;
        for (size_t row = 0; row < count; ++row) {
            sql += (row == 0 ? " VALUES " : ", ") + row_placeholders;
        }
        Statement& insert = connection_->Cached(sql);
        for (size_t row = 0; row < count; ++row) {
            bind_row(insert, static_cast<int>(row) * columns + 1, rows[done + row]);
        }
        insert.Run();
        done += count;
    }
}

Status SqliteLedgerStore::Commit(const ledger::Batch& batch, ledger::LedgerState& state) {
    try {
        if (!connection_->InTransaction()) {
            // SQLite rolled the batch back on its own (e.g. an I/O error): write nothing.
            return Error{ErrorCode::kUnavailable, "the batch transaction was rolled back"};
        }
        {
            Statement& insert_hold = connection_->Cached(
                "INSERT INTO holds (id, account_id, feature, amount, captured, released, status, "
                "expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
            for (const ledger::Hold& created : batch.new_holds) {
                // Written as it is now (it may have moved again within the batch).
                const ledger::Hold& hold =
                    state.FindHold(created.id) ? *state.FindHold(created.id) : created;
                insert_hold.Bind(1, hold.id).Bind(2, hold.account_id).Bind(3, hold.feature)
                    .Bind(4, hold.amount).Bind(5, hold.captured).Bind(6, hold.released)
                    .Bind(7, ledger::HoldStatusName(hold.status)).Bind(8, hold.expires_at_ms)
                    .Bind(9, hold.created_at_ms).Run();
            }
            Statement& insert_lot = connection_->Cached(
                "INSERT INTO lots (id, account_id, amount, remaining, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)");
            for (const ledger::Lot& lot : batch.new_lots) {
                // The remainder is written below with the account's other lots.
                insert_lot.Bind(1, lot.id).Bind(2, lot.account_id).Bind(3, lot.amount)
                    .Bind(4, lot.amount)
                    .Bind(5, lot.expires_at_ms == ledger::kNeverExpires
                                 ? std::optional<int64_t>{}
                                 : std::optional<int64_t>{lot.expires_at_ms})
                    .Bind(6, lot.created_at_ms).Run();
            }
            InsertRows(batch.transfers, kTransferInsert, 13, [](Statement& insert, int at, const ledger::Transfer& t) {
                insert.Bind(at, t.id).Bind(at + 1, t.debit_account_id).Bind(at + 2, t.credit_account_id)
                    .Bind(at + 3, t.amount).Bind(at + 4, ledger::TransferKindName(t.kind))
                    .Bind(at + 5, t.hold_id).Bind(at + 6, t.lot_id).Bind(at + 7, t.feature)
                    .Bind(at + 8, t.reference).Bind(at + 9, t.actor).Bind(at + 10, t.reason)
                    .Bind(at + 11, t.idempotency_key).Bind(at + 12, t.created_at_ms);
            });
            // The day's usage sums, in the same transaction: usage analytics read whole days there.
            std::map<std::tuple<int64_t, int64_t, ledger::TransferKind, std::string>, std::pair<int64_t, int64_t>> days;
            for (const ledger::Transfer& t : batch.transfers) {
                auto& [amount, operations] =
                    days[{t.created_at_ms - t.created_at_ms % kDayMs, t.debit_account_id, t.kind, t.feature}];
                amount += t.amount;
                ++operations;
            }
            Statement& add_day = connection_->Cached(
                "INSERT INTO usage_daily (day_ms, account_id, kind, feature, amount, operations) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day_ms, account_id, kind, feature) DO UPDATE SET "
                "amount = amount + excluded.amount, operations = operations + excluded.operations");
            for (const auto& [key, sums] : days) {
                add_day.Bind(1, std::get<0>(key)).Bind(2, std::get<1>(key))
                    .Bind(3, ledger::TransferKindName(std::get<2>(key))).Bind(4, std::get<3>(key))
                    .Bind(5, sums.first).Bind(6, sums.second).Run();
            }
            Statement& update_account = connection_->Cached(
                "UPDATE accounts SET credits_posted = ?, debits_posted = ?, credits_pending = ?, "
                "debits_pending = ? WHERE id = ?");
            for (int64_t id : batch.dirty_accounts) {
                const ledger::Account* account = state.FindAccount(id);
                B5_ASSERT(account != nullptr, "dirty account not in state");
                update_account.Bind(1, account->credits_posted).Bind(2, account->debits_posted)
                    .Bind(3, account->credits_pending).Bind(4, account->debits_pending).Bind(5, id).Run();
            }
            Statement& update_lot = connection_->Cached("UPDATE lots SET remaining = ? WHERE id = ?");
            for (const auto& [lot_id, remaining] : batch.lot_remaining) {
                update_lot.Bind(1, remaining).Bind(2, lot_id).Run();
            }
            Statement& update_hold = connection_->Cached(
                "UPDATE holds SET amount = ?, captured = ?, released = ?, status = ?, expires_at = ? "
                "WHERE id = ?");
            for (int64_t id : batch.dirty_holds) {
                const ledger::Hold* hold = state.FindHold(id);
                B5_ASSERT(hold != nullptr, "dirty hold not in state");
                update_hold.Bind(1, hold->amount).Bind(2, hold->captured).Bind(3, hold->released)
                    .Bind(4, ledger::HoldStatusName(hold->status)).Bind(5, hold->expires_at_ms)
                    .Bind(6, id).Run();
            }
            InsertRows(batch.idempotency, kIdempotencyInsert, 6,
                       [](Statement& insert, int at, const ledger::IdempotencyRecord& record) {
                           insert.Bind(at, record.scope).Bind(at + 1, record.key)
                               .Bind(at + 2, record.request_hash)
                               .Bind(at + 3, static_cast<int64_t>(record.rejection))
                               .Bind(at + 4, record.response).Bind(at + 5, record.created_at_ms);
                       });
        }
        connection_->Cached("COMMIT").Run();
        return Status::Ok();
    } catch (const SqliteError& error) {
        connection_->RollbackIfOpen();
        return StorageError(error);
    }
}

Result<int64_t> SqliteLedgerStore::PurgeIdempotency(int64_t before_ms, int64_t limit) {
    try {
        // Ids grow with time: delete the oldest ids up to the first record still kept.
        connection_->Cached(
                "DELETE FROM idempotency_keys WHERE id < COALESCE((SELECT id FROM idempotency_keys "
                "WHERE created_at >= ?1 ORDER BY id LIMIT 1), 9223372036854775807) "
                "AND id < (SELECT MIN(id) FROM idempotency_keys) + ?2")
            .Bind(1, before_ms)
            .Bind(2, limit)
            .Run();
        return static_cast<int64_t>(connection_->Changes());
    } catch (const SqliteError& error) {
        return StorageError(error);
    }
}

}  // namespace beta500::store
