#include "store/pg_session_store.h"

namespace beta500::store {
namespace {

constexpr const char* kColumns =
    "SELECT s.id, s.user_id, s.hold_id, s.feature, s.rate_per_minute, s.instance, s.status, s.started_at, "
    "s.last_seen_at, s.charged, s.ticks, s.ended_at, COALESCE(s.end_reason, ''), s.active_ms, u.email, s.due_at "
    "FROM live_sessions s JOIN users u ON u.id = s.user_id ";

// Milliseconds since the epoch on the database's clock: leases compare on one clock for all servers.
constexpr const char* kDbNowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

std::string Str(int64_t value) { return std::to_string(value); }

std::optional<std::string> Opt(std::optional<int64_t> value) {
    return value ? std::optional<std::string>(Str(*value)) : std::nullopt;
}

// Ids as a PostgreSQL array literal.
std::string IdArray(const std::vector<int64_t>& ids) {
    std::string text = "{";
    for (const int64_t id : ids) {
        text += (text.size() > 1 ? "," : "") + Str(id);
    }
    return text + "}";
}

Status Done(const Result<PgRows>& result) { return result ? Status::Ok() : Status(result.error()); }

}  // namespace

Result<std::vector<live::SessionRow>> PgSessionStore::Select(const std::string& where, const PgParams& params,
                                                             const std::string& with) {
    auto rows = Exec(with + kColumns + where, params);
    if (!rows) {
        return rows.error();
    }
    std::vector<live::SessionRow> sessions;
    for (int r = 0; r < rows->size(); ++r) {
        live::SessionRow& row = sessions.emplace_back();
        row.id = rows->Int(r, 0);
        row.user_id = rows->Int(r, 1);
        row.hold_id = rows->Int(r, 2);
        row.feature = rows->Text(r, 3);
        row.rate_per_minute = rows->Int(r, 4);
        row.instance = rows->Text(r, 5);
        row.status = rows->Text(r, 6);
        row.started_at_ms = rows->Int(r, 7);
        row.last_seen_at_ms = rows->Int(r, 8);
        row.charged = rows->Int(r, 9);
        row.ticks = rows->Int(r, 10);
        if (!rows->IsNull(r, 11)) {
            row.ended_at_ms = rows->Int(r, 11);
        }
        row.end_reason = rows->Text(r, 12);
        row.active_ms = rows->Int(r, 13);
        row.email = rows->Text(r, 14);
        row.due_at_ms = rows->Int(r, 15);
    }
    return sessions;
}

Result<PgRows> PgSessionStore::Exec(const std::string& sql, const PgParams& params) {
    if (Status connected = db_->Reconnect(); !connected) {  // a restarted server or a dropped link
        return connected.error();
    }
    return db_->Exec(sql, params);
}

Result<int64_t> PgSessionStore::Create(const live::SessionRow& row) {
    std::lock_guard lock(mutex_);
    auto created = Exec(
        "INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, status, started_at, "
        "last_seen_at, due_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8) RETURNING id",
        {Str(row.user_id), Str(row.hold_id), row.feature, Str(row.rate_per_minute), row.instance,
         Str(row.started_at_ms), Str(row.last_seen_at_ms), Str(row.due_at_ms)});
    if (!created) {
        return created.error();
    }
    return created->Int(0, 0);
}

Status PgSessionStore::Heartbeat(const std::vector<int64_t>& session_ids, int64_t now_ms) {
    if (session_ids.empty()) {
        return Status::Ok();
    }
    std::lock_guard lock(mutex_);
    return Done(Exec("UPDATE live_sessions SET last_seen_at = GREATEST(last_seen_at, $1) "
                          "WHERE id = ANY($2::bigint[]) AND status = 'active'",
                          {Str(now_ms), IdArray(session_ids)}));
}

Result<std::vector<live::SessionRow>> PgSessionStore::Due(const std::string& instance, int64_t now_ms, int64_t limit) {
    std::lock_guard lock(mutex_);
    return Select("WHERE s.instance = $1 AND s.status = 'active' AND s.due_at <= $2 ORDER BY s.due_at, s.id LIMIT $3",
                  {instance, Str(now_ms), Str(limit)});
}

Result<bool> PgSessionStore::Lease(const std::string& instance, int64_t ttl_ms) {
    std::lock_guard lock(mutex_);
    const std::string now = kDbNowMs;
    // The CTE sees the lease as it was before this statement renews it.
    auto renewed = Exec("WITH gone AS (DELETE FROM instances WHERE lease_until < " + now + " - 86400000), "
                        "before AS (SELECT lease_until FROM instances WHERE name = $1) "
                        "INSERT INTO instances (name, started_at, lease_until) VALUES ($1, " + now + ", " + now +
                            " + $2) ON CONFLICT (name) DO UPDATE SET lease_until = EXCLUDED.lease_until "
                            "RETURNING COALESCE((SELECT lease_until FROM before) < " + now + ", FALSE)",
                        {instance, Str(ttl_ms)});
    if (!renewed) {
        return renewed.error();
    }
    return renewed->Int(0, 0) != 0;
}

Result<std::vector<live::SessionRow>> PgSessionStore::Orphaned(const std::string& instance, int64_t limit) {
    // Sessions of servers whose lease ran out (or that never took one) are claimed, as
    // "settle:<instance>", by one survivor; its own claims are returned again until settled, and
    // if it dies too, they are another survivor's to claim.
    const std::string settler = "settle:" + instance;
    std::lock_guard lock(mutex_);
    return Select(
        "WHERE s.id IN (SELECT id FROM claimed) OR (s.instance = $2 AND s.status = 'active') ORDER BY s.id LIMIT $3",
        {instance, settler, Str(limit)},
        std::string("WITH claimed AS (UPDATE live_sessions c SET instance = $2 WHERE c.id IN ("
                    "SELECT o.id FROM live_sessions o LEFT JOIN instances i "
                    "ON i.name = regexp_replace(o.instance, '^settle:', '') "
                    "WHERE o.status = 'active' AND o.instance <> $1 AND o.instance <> $2 "
                    "AND (i.name IS NULL OR i.lease_until < ") +
            kDbNowMs + ") ORDER BY o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED) RETURNING c.id) ");
}

Status PgSessionStore::RecordCharges(const std::vector<live::ChargeRecord>& charges) {
    if (charges.empty()) {
        return Status::Ok();
    }
    std::string ids = "{", charged = "{", ticks = "{", due = "{";
    for (const auto& charge : charges) {
        const char* comma = ids.size() > 1 ? "," : "";
        ids += comma + Str(charge.session_id);
        charged += comma + Str(charge.charged);
        ticks += comma + Str(charge.tick);
        due += comma + Str(charge.due_at_ms);
    }
    std::lock_guard lock(mutex_);
    // Each tick also leaves its row in live_charges, whose key (session, tick) no second charge
    // of the same tick can pass.
    return Done(Exec(
        std::string("WITH updated AS (UPDATE live_sessions s SET charged = GREATEST(s.charged, v.c), ticks = v.t, "
                    "due_at = v.d FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, c, t, d) "
                    "WHERE s.id = v.id AND s.status = 'active' AND v.t > s.ticks RETURNING s.id, v.c, v.t, s.instance) "
                    "INSERT INTO live_charges (session_id, tick, charged_total, instance, created_at) "
                    "SELECT id, t, c, instance, ") +
            kDbNowMs + " FROM updated",
        {ids + "}", charged + "}", ticks + "}", due + "}"}));
}

Result<bool> PgSessionStore::End(int64_t id, const std::string& reason, int64_t ended_at_ms, int64_t active_ms,
                                 int64_t charged) {
    std::lock_guard lock(mutex_);
    auto ended = Exec(
        "UPDATE live_sessions SET status = 'ended', end_reason = $1, ended_at = $2, "
        "last_seen_at = GREATEST(last_seen_at, $2), active_ms = $3, "
        // A settled hold is the truth of what was charged (whoever settled it).
        "charged = COALESCE((SELECT captured FROM holds WHERE id = live_sessions.hold_id AND status <> 'open'), $4) "
        "WHERE id = $5 AND status = 'active'",
        {reason, Str(ended_at_ms), Str(active_ms), Str(charged), Str(id)});
    if (!ended) {
        return ended.error();
    }
    return ended->affected() > 0;
}

Result<std::optional<live::SessionRow>> PgSessionStore::Find(int64_t id) {
    std::lock_guard lock(mutex_);
    auto rows = Select("WHERE s.id = $1", {Str(id)});
    if (!rows) {
        return rows.error();
    }
    return rows->empty() ? std::optional<live::SessionRow>() : std::optional<live::SessionRow>(std::move(rows->front()));
}

Result<std::vector<live::SessionRow>> PgSessionStore::List(bool active_only, std::optional<int64_t> user_id,
                                                           std::optional<int64_t> before_id, int64_t limit) {
    std::lock_guard lock(mutex_);
    return Select("WHERE ($1 = 0 OR s.status = 'active') AND ($2::bigint IS NULL OR s.user_id = $2) "
                  "AND ($3::bigint IS NULL OR s.id < $3) ORDER BY s.id DESC LIMIT $4",
                  {Str(active_only ? 1 : 0), Opt(user_id), Opt(before_id), Str(limit)});
}

}  // namespace beta500::store
