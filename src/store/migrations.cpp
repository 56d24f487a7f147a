#include "store/migrations.h"

namespace beta500::store {

int MigrateSqlite(Connection& connection, int64_t now_ms) {
    connection.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    int applied = 0;
    for (const Migration& migration : AllMigrations()) {
        if (migration.dialect != "sqlite") {
            continue;
        }
        connection.Transaction([&] {
            Statement& seen =
                connection.Cached("SELECT 1 FROM schema_migrations WHERE version = ?");
            seen.Bind(1, static_cast<int64_t>(migration.version));
            const bool done = seen.Step();
            seen.Reset();
            if (done) {
                return;
            }
            connection.Exec(migration.sql);
            connection.Cached("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
                .Bind(1, static_cast<int64_t>(migration.version))
                .Bind(2, migration.name)
                .Bind(3, now_ms)
                .Run();
            ++applied;
        });
    }
    return applied;
}

}  // namespace beta500::store
