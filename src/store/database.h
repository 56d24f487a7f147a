// Database: the embedded SQLite database in the data directory, or a PostgreSQL shared by any
// number of servers (`database.url`). Opens (and migrates) it, hands out the ledger writer's,
// live sessions' and catalog's stores, and answers the reads and the few writes that are not
// ledger operations (users, API tokens). Its queries are written once against store/sql.h.
// Blocking: call it from worker threads, never network threads. Thread-safe: calls take a
// connection from a pool (on SQLite, writes use their own short connection).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/result.h"
#include "ledger/audit.h"
#include "ledger/store.h"
#include "catalog/catalog_store.h"
#include "live/session_store.h"
#include "store/postgres.h"
#include "store/sqlite.h"

namespace beta500::store {

struct BalanceView {
    int64_t user_id = 0;
    int64_t available = 0;
    int64_t held = 0;
    int64_t posted = 0;
    int64_t granted_total = 0;
    std::vector<ledger::Lot> lots;  // with credits left, in burn-down order
};

struct TransferView {
    ledger::Transfer transfer;
    std::string debit_account;
    std::string credit_account;
};

struct TransferFilter {
    std::optional<int64_t> user_id;
    std::optional<ledger::TransferKind> kind;
    std::optional<std::string> feature;
    std::optional<int64_t> before_id;  // cursor: transfers older than this id
    int64_t limit = 50;
};

// A mail due for delivery.
struct OutboxMail {
    int64_t id = 0;
    std::string to;
    std::string template_name;
    std::string subject;
    std::string text_body;
    std::string html_body;
    int64_t attempts = 0;
};

// A mail as admins see it (never its body, which may hold a sign-in link).
struct OutboxEntry {
    int64_t id = 0;
    std::string to;
    std::string template_name;
    std::string subject;
    std::string status;  // pending, sent, dead
    int64_t attempts = 0;
    int64_t next_attempt_at_ms = 0;
    std::string last_error;
    int64_t created_at_ms = 0;
    std::optional<int64_t> sent_at_ms;
};

enum class RetryOutcome { kRetried, kNotFound, kNotDead };

struct Invitation {
    int64_t id = 0;
    std::string email;
    int64_t initial_credits = 0;
    std::optional<int64_t> expires_at_ms;
    std::string note;
    std::string inviter;
    std::string status;  // open, consumed, revoked
    int64_t created_at_ms = 0;
    std::optional<int64_t> consumed_at_ms;
    std::optional<int64_t> consumed_by;
    std::optional<int64_t> revoked_at_ms;
    int64_t last_sent_at_ms = 0;
    std::string role;
};

struct NewInvitation {
    std::string email;  // normalized
    std::string role = "user";  // user or admin: the role given at enrollment
    int64_t initial_credits = 0;
    std::optional<int64_t> expires_at_ms;
    std::string note;
    std::string inviter;
};

// A mail to queue in the same transaction as the change that sends it.
struct QueuedMail {
    std::string template_name;
    std::string subject;
    std::string text_body;
    std::string html_body;
};

enum class InviteOutcome {
    kCreated,
    kUnchanged,        // the same open invitation exists already (a retried request)
    kConflict,         // another open invitation for this email exists
    kAlreadyEnrolled,  // a user with this email exists
    kOverCap,          // enrolled users plus open invitations would exceed the cap
};

struct InviteResult {
    InviteOutcome outcome = InviteOutcome::kCreated;
    std::optional<Invitation> invitation;  // the created or existing one
    int64_t seats_used = 0;                // users plus open invitations, before this one
};

enum class InvitationChange { kDone, kNotFound, kNotOpen, kTooSoon };

struct User {
    int64_t id = 0;
    std::string email;
    std::string role;    // user, admin
    std::string status;  // active, suspended
    bool email_verified = false;
    std::optional<int64_t> enrolled_at_ms;
    int64_t created_at_ms = 0;
    std::string display_name;  // from the OpenID provider's `name`, if one gave it
};

struct AuditEntry {
    int64_t id = 0;
    std::string actor;
    std::string action;  // e.g. invitation.create, user.suspend
    std::string target;  // e.g. invitation:7, user:3, mail:12
    std::string before;  // JSON
    std::string after;   // JSON
    int64_t created_at_ms = 0;
};

enum class StatusChange { kChanged, kUnchanged, kNotFound };

struct WebSession {
    int64_t id = 0;
    User user;
    std::string csrf_token;
    int64_t created_at_ms = 0;
    int64_t last_seen_at_ms = 0;
};

// What a sign-in or verification token is bound to besides its address: the user whose new
// address it proves, or the provider identity waiting for its address to be proven.
struct TokenBinding {
    std::optional<int64_t> user_id;
    std::optional<std::string> issuer;
    std::optional<std::string> subject;
    std::optional<std::string> browser_hash;  // the browser that may redeem it, if bound to one
};

struct RedeemedToken {
    std::string email;
    TokenBinding binding;
};

// An OpenID Connect sign-in between the redirect to the provider and its callback.
struct OidcLogin {
    std::string browser_hash;  // SHA-256 of the value in the browser's login cookie
    std::string provider;
    std::string nonce;
    std::string code_verifier;
    std::string return_to;
};

enum class EmailChange { kChanged, kTaken, kNotFound };

// A fraud rule's hit, for the admins' risk queue.
struct RiskEvent {
    int64_t id = 0;
    std::optional<int64_t> user_id;
    std::string rule;
    std::string action;  // flag, block_action, suspend_user
    int64_t score = 0;
    std::string evidence;  // JSON
    std::string status;    // open, cleared, suspended
    int64_t created_at_ms = 0;
    std::optional<std::string> decided_by;
    std::optional<int64_t> decided_at_ms;
};

// What one user spent (usage and captures) in the recent window and in the last week.
struct Spend {
    int64_t user_id = 0;
    int64_t in_window = 0;
    int64_t in_week = 0;
};

// Usage analytics over [from, to), in buckets of `bucket_ms` aligned to the epoch (weeks to
// Mondays): all from the journal, the live sessions, invitations and users.
struct UsageReport {
    struct Credits {
        int64_t bucket_ms = 0;
        std::string feature;
        int64_t credits = 0;
        int64_t operations = 0;  // usage and capture transfers
    };
    struct Bucket {
        int64_t bucket_ms = 0;
        int64_t active_users = 0;  // users who spent in the bucket
        int64_t sessions = 0;      // live sessions started in the bucket
        int64_t session_minutes = 0;
    };
    struct TopUser {
        int64_t user_id = 0;
        std::string email;
        int64_t credits = 0;
    };
    std::vector<Credits> credits;  // by bucket, then feature
    std::vector<Bucket> buckets;   // every bucket in the range, in order
    std::vector<TopUser> top_users;  // by credits spent, at most 10
    int64_t granted = 0;
    int64_t spent = 0;
    int64_t expired = 0;
    int64_t adjusted = 0;  // net of adjustments out of wallets (negative: taken back)
    int64_t searches = 0;
    int64_t recommendation_refreshes = 0;
    int64_t invited = 0;    // invitations created in the range
    int64_t enrolled = 0;   // users enrolled in the range
    int64_t active_7d = 0;  // of those, users who spent in the 7 days before `to`
};

struct ApiToken {
    int64_t id = 0;
    std::string scope;  // "service" or "admin"
};

// Channels of the notifications servers sharing a PostgreSQL send each other (PgListener):
// a user's status changed ("<user id> <status>"), and a live session to terminate ("<id>").
inline constexpr const char* kUsersChannel = "beta500_users";
inline constexpr const char* kTerminateChannel = "beta500_terminate";

// Whether `database.url` names PostgreSQL (postgres:// or postgresql://).
bool IsPostgresUrl(std::string_view url);

class Database {
   public:
    // Creates the data directory if needed, opens beta500.sqlite3 in it and migrates it.
    static Result<std::unique_ptr<Database>> Open(const Config::Database& config, const Clock& clock);
    ~Database();

    // Takes the data directory's lock file so only one server process writes the ledger.
    // Fails if another process holds it. Released when the Database is destroyed.
    Status LockExclusive();

    // A store with its own write connection, for the server's ledger writer; on PostgreSQL its
    // commits notify the balances they change as `instance` (see PgLedgerStore).
    std::unique_ptr<ledger::LedgerStore> NewLedgerStore(const std::string& instance = "");
    // A live-session store with its own connection.
    std::unique_ptr<live::SessionStore> NewSessionStore();
    // A catalog store with its own connection.
    std::unique_ptr<catalog::CatalogStore> NewCatalogStore();

    Result<std::optional<BalanceView>> Balance(int64_t user_id);
    Result<std::vector<TransferView>> Transfers(const TransferFilter& filter);
    Result<std::optional<ApiToken>> FindApiToken(std::string_view token);
    Result<ledger::AuditInput> LoadAudit(int64_t idempotency_ttl_ms);
    Status Ping();
    // Sends a notification to the servers sharing the database (none on SQLite).
    Status Notify(const std::string& channel, const std::string& payload);

    // Creates a user, enrolled in the beta, and their wallet in one transaction; returns the
    // user id.
    Result<int64_t> CreateUser(const std::string& email, const std::string& role);
    // Creates an API token; returns its id and the token, which is shown once and stored hashed.
    Result<std::pair<int64_t, std::string>> CreateApiToken(const std::string& scope,
                                                           const std::string& name);

    // The mail outbox (see mail::DeliveryWorker).
    Result<int64_t> EnqueueMail(const std::string& to, const QueuedMail& mail);
    // Claims up to `limit` mails due by `now_ms`, sign-in links first: none is handed to another
    // caller (on any server) for two minutes, unless marked failed with an earlier next attempt.
    Result<std::vector<OutboxMail>> DueMail(int64_t now_ms, int64_t limit);
    Status MarkMailSent(int64_t id, int64_t now_ms);
    Status MarkMailFailed(int64_t id, int64_t attempts, int64_t next_attempt_at_ms, bool dead,
                          const std::string& error);
    Result<std::vector<OutboxEntry>> ListMail(const std::optional<std::string>& status,
                                              std::optional<int64_t> before_id, int64_t limit);
    // Puts a dead letter back in the queue, due now, with its attempts reset; or, with
    // `discard`, deletes it. Audited either way.
    Result<RetryOutcome> RetryMail(int64_t id, int64_t now_ms, const std::string& actor, bool discard = false);

    // Invitations. Create checks the cap and queues the invitation mail in one transaction.
    Result<InviteResult> CreateInvitation(const NewInvitation& invitation, const QueuedMail& mail,
                                          int64_t cap);
    Result<std::vector<Invitation>> ListInvitations(const std::optional<std::string>& status,
                                                    const std::string& email_contains,
                                                    std::optional<int64_t> before_id, int64_t limit);
    Result<std::optional<Invitation>> FindInvitation(int64_t id);
    Result<InvitationChange> RevokeInvitation(int64_t id, const std::string& actor);
    // Queues the invitation mail again, at most once per `min_interval_ms`.
    Result<InvitationChange> ResendInvitation(int64_t id, const QueuedMail& mail,
                                              int64_t min_interval_ms, const std::string& actor);

    // Users, for admins. Suspending also ends the user's web sessions; both are audited.
    Result<std::vector<User>> ListUsers(const std::optional<std::string>& status,
                                        const std::string& email_contains,
                                        std::optional<int64_t> before_id, int64_t limit);
    Result<StatusChange> SetUserStatus(int64_t id, const std::string& status, const std::string& actor);
    // Whether a user is suspended, from memory: loaded when the database opens and kept current
    // by SetUserStatus (the server is the only process that changes it). Thread-safe.
    bool IsSuspended(int64_t user_id) const;
    // Reads the suspended users again (on PostgreSQL, after another server changed one).
    Status RefreshSuspended();
    // Writes one admin audit record (for changes made outside this class).
    Status RecordAudit(const std::string& actor, const std::string& action, const std::string& target,
                       const std::string& before, const std::string& after);
    // The admin audit log, newest first, optionally for one target.
    Result<std::vector<AuditEntry>> ListAudit(const std::optional<std::string>& target,
                                              std::optional<int64_t> before_id, int64_t limit);

    // Sign-in. May `email` ask for a sign-in link: an active user, or an open invitation?
    Result<bool> MaySignIn(const std::string& email);
    // Stores a sign-in token (its hash) and queues its mail in one transaction, unless one was
    // created for this email and purpose less than `min_interval_ms` ago (then returns false).
    Result<bool> CreateSignInToken(const std::string& email, const std::string& purpose,
                                   const std::string& token_hash, int64_t ttl_ms,
                                   int64_t min_interval_ms, const QueuedMail& mail,
                                   const TokenBinding& binding = {});
    // Marks the token used if it is unused, unexpired and of this purpose; returns its email
    // and binding. Of any number of concurrent redemptions of one token, exactly one succeeds.
    Result<std::optional<RedeemedToken>> RedeemSignInToken(const std::string& token_hash,
                                                           const std::string& purpose);
    // Gives a redeemed token back when the sign-in failed on our side (so the link still works).
    Status UnredeemSignInToken(const std::string& token_hash);
    Result<std::optional<User>> FindUser(int64_t id);
    Status MarkEmailVerified(int64_t user_id);
    Result<std::optional<User>> FindUserByEmail(const std::string& email);
    Result<std::optional<User>> FindUserByIdentity(const std::string& issuer, const std::string& subject);
    // Gives the user a new, verified address, unless another user has it.
    Result<EmailChange> ChangeEmail(int64_t user_id, const std::string& email);

    // OpenID Connect sign-ins in flight, by the SHA-256 of their state. Create also deletes
    // sign-ins past their time; Take removes the sign-in (a state works once) and returns it if
    // it was unexpired.
    Status CreateOidcLogin(const std::string& state_hash, const OidcLogin& login, int64_t ttl_ms);
    Result<std::optional<OidcLogin>> TakeOidcLogin(const std::string& state_hash);
    Result<int64_t> CreateSession(int64_t user_id, const std::string& token_hash,
                                  const std::string& csrf_token);
    // The live session with this token hash: not revoked, seen within `idle_ms`, created within
    // `absolute_ms`. Refreshes last_seen_at (at most once a minute).
    Result<std::optional<WebSession>> FindSession(const std::string& token_hash, int64_t idle_ms,
                                                  int64_t absolute_ms);
    Status RevokeSession(int64_t id);

    // Fraud signals: what the rules count. `kind` is one of sign_in_ip, sign_in_device,
    // failure_ip, link_request, cap_refused; `key` what is counted by (an address, a device, a
    // hashed email, a user id). AddSignal also drops signals older than `keep_ms`.
    Status AddSignal(const std::string& kind, const std::string& key, std::optional<int64_t> user_id,
                     int64_t keep_ms);
    Result<int64_t> CountSignals(const std::string& kind, const std::string& key, int64_t since_ms);
    Result<int64_t> CountSignalUsers(const std::string& kind, const std::string& key, int64_t since_ms);
    Result<int64_t> CountSessionStarts(int64_t user_id, int64_t since_ms);
    // Users who spent since `window_ms` (or only `user_id`), with what they spent since
    // `window_ms` and since `week_ms`; and the average weekly spend of everyone who spent in it.
    Result<std::vector<Spend>> RecentSpenders(int64_t window_ms, int64_t week_ms, std::optional<int64_t> user_id);
    Result<double> CohortWeeklySpend(int64_t week_ms);
    // Drops signals older than `before_ms` (at most 100,000 a call).
    Status PurgeSignals(int64_t before_ms);
    // Risk events: Record also adds the score to the user's risk score.
    Result<int64_t> RecordRiskEvent(std::optional<int64_t> user_id, const std::string& rule,
                                    const std::string& action, int64_t score, const std::string& evidence);
    Result<std::vector<RiskEvent>> ListRiskEvents(const std::optional<std::string>& status,
                                                  std::optional<int64_t> user_id, std::optional<int64_t> before_id,
                                                  int64_t limit);
    Result<std::optional<RiskEvent>> FindRiskEvent(int64_t id);
    // Closes an open event as cleared or suspended (audited); kUnchanged if it was not open.
    Result<StatusChange> DecideRiskEvent(int64_t id, const std::string& status, const std::string& actor);
    Result<int64_t> RiskScore(int64_t user_id);

    // Usage analytics (see UsageReport). `bucket_ms` is 3,600,000 (hour), 86,400,000 (day) or
    // 604,800,000 (week).
    Result<UsageReport> Usage(int64_t from_ms, int64_t to_ms, int64_t bucket_ms);

    const std::string& path() const { return path_; }
    // Whether the database is PostgreSQL (shared by any number of servers) rather than SQLite.
    bool postgres() const { return postgres_; }

   private:
    Database(Config::Database config, const Clock& clock, std::string path);

    // A connection for one call: a pooled one goes back to `database`'s pool when the lease
    // ends (with no database, it is closed).
    class Lease {
       public:
        Lease(Database* database, std::unique_ptr<SqlConnection> connection)
            : database_(database), connection_(std::move(connection)) {}
        Lease(Lease&&) = default;
        ~Lease();
        SqlConnection& operator*() { return *connection_; }
        SqlConnection* operator->() { return connection_.get(); }

       private:
        Database* database_;
        std::unique_ptr<SqlConnection> connection_;
    };
    // A connection for reads (on SQLite, read-only).
    Lease Read();
    // A connection for writes (on SQLite, its own short one: the pool's are read-only).
    Lease Write();
    std::unique_ptr<Connection> OpenSqlite(bool read_only);
    std::unique_ptr<PgConnection> OpenPostgres();
    template <typename Key>
    Result<std::optional<User>> FindUserWhere(const char* column, const Key& key);

    const Config::Database config_;
    const Clock& clock_;
    const std::string path_;
    const bool postgres_;
    int lock_fd_ = -1;

    mutable std::mutex suspended_mutex_;
    std::unordered_set<int64_t> suspended_;  // GUARDED_BY(suspended_mutex_)

    std::mutex pool_mutex_;
    std::condition_variable pool_released_;
    std::vector<std::unique_ptr<SqlConnection>> pool_;  // GUARDED_BY(pool_mutex_)
    int64_t pool_open_ = 0;                          // GUARDED_BY(pool_mutex_)
};

}  // namespace beta500::store
