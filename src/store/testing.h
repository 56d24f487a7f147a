// Test support: the same test on either backend. A TestBackend is a fresh database (a temporary
// SQLite directory, or the `postgres` fixture's cluster with its schema emptied) with what tests
// need of it: users with wallets, the ledger writer's and the live sessions' stores, balances,
// the audit's input. Used by tests only (library b5_store_testing).
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "ledger/audit.h"
#include "ledger/store.h"
#include "live/session_store.h"
#include "store/postgres.h"

namespace beta500::store {

struct TestBalance {
    int64_t available = 0;
    int64_t held = 0;
    int64_t posted = 0;
};

// A connection to the `postgres` fixture's cluster (BETA500_TEST_POSTGRES_URL); the test stops
// when there is none.
std::unique_ptr<PgConnection> TestPostgresConnection();

class TestBackend {
   public:
    // "sqlite" or "postgres" (which reads BETA500_TEST_POSTGRES_URL, set by ctest's fixture).
    static std::unique_ptr<TestBackend> Make(const std::string& kind, const Clock& clock);
    virtual ~TestBackend() = default;

    // A user in the beta, with a wallet.
    virtual int64_t CreateUser(const std::string& email) = 0;
    virtual std::unique_ptr<ledger::LedgerStore> NewLedgerStore() = 0;
    virtual std::unique_ptr<live::SessionStore> NewSessionStore() = 0;
    virtual TestBalance Balance(int64_t user_id) = 0;
    virtual Result<ledger::AuditInput> LoadAudit(int64_t idempotency_ttl_ms) = 0;
    // Credits granted by `actor`, in all.
    virtual int64_t GrantedBy(const std::string& actor) = 0;
};

}  // namespace beta500::store
