#include "store/sqlite_session_store.h"

namespace beta500::store {
namespace {

constexpr const char* kColumns =
    "s.id, s.user_id, s.hold_id, s.feature, s.rate_per_minute, s.instance, s.status, s.started_at, "
    "s.last_seen_at, s.charged, s.ticks, s.ended_at, COALESCE(s.end_reason, ''), s.active_ms, "
    "u.email, s.due_at FROM live_sessions s JOIN users u ON u.id = s.user_id";

}  // namespace

template <typename Body>
auto SqliteSessionStore::Locked(Body&& body) -> decltype(body()) {
    return LockedCall(mutex_, *connection_, std::forward<Body>(body));
}

std::vector<live::SessionRow> SqliteSessionStore::Rows(Statement& statement) {
    std::vector<live::SessionRow> rows;
    while (statement.Step()) {
        live::SessionRow& row = rows.emplace_back();
        row.id = statement.Int(0);
        row.user_id = statement.Int(1);
        row.hold_id = statement.Int(2);
        row.feature = statement.Text(3);
        row.rate_per_minute = statement.Int(4);
        row.instance = statement.Text(5);
        row.status = statement.Text(6);
        row.started_at_ms = statement.Int(7);
        row.last_seen_at_ms = statement.Int(8);
        row.charged = statement.Int(9);
        row.ticks = statement.Int(10);
        if (!statement.IsNull(11)) {
            row.ended_at_ms = statement.Int(11);
        }
        row.end_reason = statement.Text(12);
        row.active_ms = statement.Int(13);
        row.email = statement.Text(14);
        row.due_at_ms = statement.Int(15);
    }
    statement.Reset();
    return rows;
}

Result<int64_t> SqliteSessionStore::Create(const live::SessionRow& row) {
    return Locked([&]() -> Result<int64_t> {
        connection_
            ->Cached("INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, "
                     "status, started_at, last_seen_at, due_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)")
            .Bind(1, row.user_id).Bind(2, row.hold_id).Bind(3, row.feature)
            .Bind(4, row.rate_per_minute).Bind(5, row.instance).Bind(6, row.started_at_ms)
            .Bind(7, row.last_seen_at_ms).Bind(8, row.due_at_ms).Run();
        return connection_->LastInsertRowId();
    });
}

Status SqliteSessionStore::Heartbeat(const std::vector<int64_t>& session_ids, int64_t now_ms) {
    if (session_ids.empty()) {
        return Status::Ok();
    }
    return Locked([&]() -> Status {
        connection_->Transaction([&] {
            Statement& update = connection_->Cached(
                "UPDATE live_sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ? AND status = 'active'");
            for (const int64_t id : session_ids) {
                update.Bind(1, now_ms).Bind(2, id).Run();
            }
        });
        return Status::Ok();
    });
}

Result<std::vector<live::SessionRow>> SqliteSessionStore::Due(const std::string& instance, int64_t now_ms,
                                                              int64_t limit) {
    return Locked([&]() -> Result<std::vector<live::SessionRow>> {
        Statement& select = connection_->Cached(
            std::string("SELECT ") + kColumns +
            " WHERE s.instance = ? AND s.status = 'active' AND s.due_at <= ? ORDER BY s.due_at, s.id LIMIT ?");
        select.Bind(1, instance).Bind(2, now_ms).Bind(3, limit);
        return Rows(select);
    });
}

Result<std::vector<live::SessionRow>> SqliteSessionStore::Orphaned(const std::string& instance,
                                                                   int64_t limit) {
    return Locked([&]() -> Result<std::vector<live::SessionRow>> {
        Statement& select = connection_->Cached(
            std::string("SELECT ") + kColumns +
            " WHERE s.status = 'active' AND s.instance <> ? ORDER BY s.id LIMIT ?");
        select.Bind(1, instance).Bind(2, limit);
        return Rows(select);
    });
}

Status SqliteSessionStore::RecordCharges(const std::vector<live::ChargeRecord>& charges) {
    if (charges.empty()) {
        return Status::Ok();
    }
    return Locked([&]() -> Status {
        connection_->Transaction([&] {
            Statement& update = connection_->Cached(
                "UPDATE live_sessions SET charged = MAX(charged, ?), ticks = ?, due_at = ? "
                "WHERE id = ? AND status = 'active'");
            for (const auto& charge : charges) {
                update.Bind(1, charge.charged).Bind(2, charge.tick).Bind(3, charge.due_at_ms)
                    .Bind(4, charge.session_id).Run();
            }
        });
        return Status::Ok();
    });
}

Result<bool> SqliteSessionStore::End(int64_t id, const std::string& reason, int64_t ended_at_ms,
                                     int64_t active_ms, int64_t charged) {
    return Locked([&]() -> Result<bool> {
        connection_
            ->Cached("UPDATE live_sessions SET status = 'ended', end_reason = ?, ended_at = ?, "
                     "last_seen_at = MAX(last_seen_at, ?), active_ms = ?, "
                     // A settled hold is the truth of what was charged (whoever settled it).
                     "charged = COALESCE((SELECT captured FROM holds WHERE id = live_sessions.hold_id "
                     "AND status <> 'open'), ?) WHERE id = ? AND status = 'active'")
            .Bind(1, reason).Bind(2, ended_at_ms).Bind(3, ended_at_ms).Bind(4, active_ms)
            .Bind(5, charged).Bind(6, id).Run();
        return connection_->Changes() > 0;
    });
}

Result<std::optional<live::SessionRow>> SqliteSessionStore::Find(int64_t id) {
    return Locked([&]() -> Result<std::optional<live::SessionRow>> {
        Statement& select = connection_->Cached(std::string("SELECT ") + kColumns + " WHERE s.id = ?");
        select.Bind(1, id);
        auto rows = Rows(select);
        if (rows.empty()) {
            return std::optional<live::SessionRow>();
        }
        return std::optional<live::SessionRow>(std::move(rows.front()));
    });
}

Result<std::vector<live::SessionRow>> SqliteSessionStore::List(bool active_only,
                                                               std::optional<int64_t> user_id,
                                                               std::optional<int64_t> before_id,
                                                               int64_t limit) {
    return Locked([&]() -> Result<std::vector<live::SessionRow>> {
        Statement& select = connection_->Cached(
            std::string("SELECT ") + kColumns +
            " WHERE (? = 0 OR s.status = 'active') AND (? IS NULL OR s.user_id = ?) "
            "AND (? IS NULL OR s.id < ?) ORDER BY s.id DESC LIMIT ?");
        select.Bind(1, int64_t{active_only ? 1 : 0}).Bind(2, user_id).Bind(3, user_id)
            .Bind(4, before_id).Bind(5, before_id).Bind(6, limit);
        return Rows(select);
    });
}

}  // namespace beta500::store
