// Schema migrations: numbered SQL files under migrations/<dialect>/, embedded in the binary at
// build time and applied in order, each in its own transaction, recorded in schema_migrations.
#pragma once

#include <string>
#include <vector>

#include "store/sqlite.h"

namespace beta500::store {

struct Migration {
    std::string dialect;
    int version = 0;
    std::string name;
    std::string sql;
};

const std::vector<Migration>& AllMigrations();

// Applies the SQLite migrations not yet applied; returns how many ran. Throws SqliteError.
int MigrateSqlite(Connection& connection, int64_t now_ms);

}  // namespace beta500::store
