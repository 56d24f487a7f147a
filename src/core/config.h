// Configuration: defaults, then a TOML file, then environment variables
// (BETA500_<SECTION>_<KEY>, upper case), then command-line flags applied by the caller.
// Every limit lives here with what it bounds; docs/configuration.md lists them all.
// A Config is a plain value: build it once at start-up, then share it read-only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace beta500 {

struct Config {
    struct Server {
        std::string listen = "127.0.0.1:8080";
        // Network threads; blocking work runs elsewhere.
        int64_t threads = 2;
        // Largest request body accepted; larger bodies get 413 before they are read.
        int64_t body_bytes_max = 1 << 20;
        // Largest request line plus headers; larger get 431.
        int64_t header_bytes_max = 16 << 10;
        // Open connections at once; the next one is answered 503 and closed.
        int64_t connections_max = 1024;
        // A keep-alive connection with no complete request for this long is closed.
        int64_t idle_timeout_seconds = 60;
        // On SIGTERM, in-flight requests get this long to finish.
        int64_t shutdown_grace_seconds = 10;
        // Where people reach this server: links in mails start with it. https:// in production.
        std::string public_url = "http://127.0.0.1:8080";
        // Largest WebSocket message accepted; a larger one closes the connection with 1009.
        int64_t ws_message_bytes_max = 64 << 10;
        // WebSocket messages a client may send per second (counted per whole second); more
        // closes the connection with 1008.
        int64_t ws_messages_per_second = 100;
        // Messages queued to one WebSocket or event-stream client; a client that lets more
        // pile up is too slow and is dropped.
        int64_t stream_outbox_max = 256;
    } server;
    struct Session {
        // How often the checkpoint worker charges every live session.
        int64_t checkpoint_interval_seconds = 30;
        // Sessions charged per ledger round trip by the worker.
        int64_t checkpoint_batch_max = 4096;
        // Price of live dubbing, credits per minute of session time (charged to the millisecond,
        // rounded down over the whole session).
        int64_t rate_per_minute = 60;
        // Credits held when a session starts; a wallet with less available is refused (4003).
        int64_t preauth_credits = 60;
        // Live sessions one user may have open at once; one more closes with 4009.
        int64_t concurrent_max = 2;
        // Lifetime of a session's hold, renewed at every checkpoint; after an outage longer than
        // this, the unsettled part of a session's last interval is not charged.
        int64_t hold_ttl_seconds = 3600;
        // Servers sharing a PostgreSQL: each renews its lease every third of this; a server
        // whose lease has run out this long is dead, and a survivor settles its live sessions up
        // to their last checkpoint (connection_lost). A server that cannot renew for this long
        // closes its own sessions (1011), since survivors may settle them.
        int64_t instance_lease_seconds = 15;
        // Origins (scheme://host[:port], comma-separated) whose pages may open a live session
        // with the session cookie. Empty: only server.public_url's origin.
        std::string allowed_origins;
    } session;
    struct Beta {
        // New invitations are refused once users with role `user` plus open, unexpired
        // invitations for role `user` reach this (admins take no seat; `users create` is an
        // operator's tool that does not check the cap, though its users count).
        int64_t cap = 500;
        // Credits an invitation carries when it names none (granted at enrollment).
        int64_t initial_credits = 1000;
        // Days an invitation stays open when created without an expiry.
        int64_t invitation_ttl_days = 30;
        // When set, `serve` makes sure this address has an admin invitation (or is an admin
        // already) and says how to sign in: the first admin of a new installation.
        std::string admin_email;
    } beta;
    struct Database {
        // "sqlite" (embedded, in data_dir; one server) or a PostgreSQL URL (postgres://user@host/db,
        // or with ?host=/socket/dir), which any number of servers may share.
        std::string url = "sqlite";
        std::string data_dir = "var";
        // SQLite PRAGMA synchronous: "full" (durable: an acknowledged write survives power loss)
        // or "normal" (survives a process crash, may lose the last commits on power loss).
        std::string synchronous = "full";
        // Read-only connections (one per blocking worker thread).
        int64_t read_connections = 4;
        // How long a statement waits for a lock held by another process before failing.
        int64_t busy_timeout_ms = 5000;
    } database;
    struct Ledger {
        // Operations waiting for the writer; when full, callers get 503 with Retry-After.
        int64_t queue_max = 65536;
        // Operations committed in one transaction at most (bounds commit latency and memory).
        int64_t batch_max = 4096;
        // Largest single amount (credits); keeps every sum far from int64 overflow.
        int64_t amount_max = 1'000'000'000;
        // Longest hold TTL.
        int64_t hold_ttl_seconds_max = 86400;
        // How often due lot expiries and hold expiries run.
        int64_t expiry_interval_seconds = 10;
        // Idempotency keys are kept at least this long.
        int64_t idempotency_ttl_days = 7;
    } ledger;
    struct Auth {
        // A sign-in link works once, for this long.
        int64_t magic_link_ttl_seconds = 900;
        // A new sign-in link for the same address is sent at most this often.
        int64_t sign_in_resend_seconds = 60;
        // A web session ends after this long unused, and after this long in any case.
        int64_t session_idle_seconds = 7 * 86400;
        int64_t session_absolute_seconds = 30 * 86400;
    } auth;
    struct Mail {
        // "log" prints each mail to the log (development; it shows links, so never in
        // production) or "smtp" delivers through `smtp_url`.
        std::string transport = "log";
        // smtp://host:port (STARTTLS when offered, required with smtp_starttls = "required")
        // or smtps://host:port (TLS from the start). SendGrid: smtp://smtp.sendgrid.net:587.
        std::string smtp_url = "smtp://127.0.0.1:25";
        std::string smtp_username;
        std::string smtp_password;
        // "required", "try" or "none". With credentials, only "required" is accepted unless the
        // relay is on loopback: "try" lets an attacker on the path strip TLS and read the password.
        std::string smtp_starttls = "required";
        std::string from = "Beta 500 <no-reply@localhost>";
        // A mail that failed this many times is a dead letter (visible to admins, retryable).
        int64_t max_attempts = 8;
        // Retry n waits backoff_base_seconds * 2^(n-1), at most backoff_max_seconds.
        int64_t backoff_base_seconds = 5;
        int64_t backoff_max_seconds = 600;
        // How often the delivery worker looks for due mail, and how many it sends per look.
        int64_t poll_interval_ms = 1000;
        int64_t batch_max = 50;
        // Connect plus transfer time allowed for one SMTP delivery.
        int64_t timeout_seconds = 20;
    } mail;
    // OpenID Connect sign-in (DESIGN section 5). Providers come from the config file only, as
    // [[oidc.providers]] tables; a provider's secret may instead be in the environment variable
    // BETA500_OIDC_<NAME>_CLIENT_SECRET (name upper-cased).
    struct OidcProvider {
        std::string name;          // [a-z0-9-]{1,32}: in the URLs /api/v1/auth/oidc/{name}/...
        std::string display_name;  // on the sign-in button
        std::string issuer;        // exact; discovery at issuer + /.well-known/openid-configuration
        std::string client_id;
        std::string client_secret;
        std::string scopes = "openid email profile";
    };
    struct Oidc {
        // A sign-in started at a provider must come back within this long.
        int64_t login_ttl_seconds = 600;
        // Clock difference allowed for a token's exp, nbf and iat; a token issued longer ago
        // than token_max_age_seconds is refused.
        int64_t clock_skew_seconds = 60;
        int64_t token_max_age_seconds = 600;
        // A provider's discovery document and keys are fetched again after this long; a token
        // naming an unknown key fetches the keys at once, but at most once per
        // jwks_refetch_seconds per provider.
        int64_t jwks_max_age_seconds = 3600;
        int64_t jwks_refetch_seconds = 60;
        // Connect plus transfer time for one request to a provider.
        int64_t http_timeout_seconds = 10;
        std::vector<OidcProvider> providers;
    } oidc;
    // AI search and recommendations (DESIGN section 7).
    struct Ai {
        // Credits a submitted search costs (suggestions as you type are free).
        int64_t search_credits = 1;
        // Credits a recommendations refresh costs (reading the last ones is free).
        int64_t recommendation_credits = 5;
        // The recommendation model retrains this often (and when an admin asks).
        int64_t retrain_seconds = 600;
        // ALS: latent factors and alternating iterations.
        int64_t als_factors = 32;
        int64_t als_iterations = 12;
    } ai;
    // Live dubbing (src/dubbing, docs/websocket.md): the engines and their limits.
    struct Dubbing {
        // "pipeline" (recognizer, translator, synthesizer below) or "passthrough" (echoes its
        // input: metering without speech models, for load tests).
        std::string engine = "pipeline";
        // Each stage's engine; these are the ones built in.
        std::string recognizer = "pocketsphinx";
        std::string translator = "apertium";
        std::string synthesizer = "espeak-ng";
        // pocketsphinx's model (Debian's pocketsphinx-en-us) and apertium's installed pairs.
        std::string pocketsphinx_model_dir = "/usr/share/pocketsphinx/model/en-us";
        std::string apertium_modes_dir = "/usr/share/apertium/modes";
        // Dubbing streams this instance runs at once; one more is refused (1013) before any
        // credit is held.
        int64_t streams_max = 4;
        // An utterance ends after this much silence, or at this length.
        int64_t silence_ms = 500;
        int64_t utterance_ms_max = 10000;
        // A partial transcript at most this often within an utterance (audio time).
        int64_t partial_ms = 1000;
        // Audio waiting to be dubbed beyond this is dropped (error `dubbing_overloaded`).
        int64_t backlog_ms = 5000;
    } dubbing;
    // Fraud rules (src/fraud/rules.h): each rule's threshold (the most allowed; more is a hit),
    // window and action: "flag" (a risk event only), "block_action" (the action is refused),
    // "suspend_user" or "off".
    struct Fraud {
        // Distinct accounts signing in from one IP address / one device within the window.
        int64_t accounts_per_ip_threshold = 5;
        int64_t accounts_per_ip_window_seconds = 86400;
        std::string accounts_per_ip_action = "flag";
        int64_t accounts_per_device_threshold = 3;
        int64_t accounts_per_device_window_seconds = 86400;
        std::string accounts_per_device_action = "flag";
        // Enrollment from a disposable email domain (the bundled list, or this file: one domain
        // per line).
        std::string disposable_email_action = "block_action";
        std::string disposable_domains_file;
        // Live sessions one user starts within the window.
        int64_t session_starts_threshold = 30;
        int64_t session_starts_window_seconds = 3600;
        std::string session_starts_action = "block_action";
        // Session starts refused at the per-user cap (session.concurrent_max) within the window.
        int64_t concurrent_sessions_threshold = 3;
        int64_t concurrent_sessions_window_seconds = 3600;
        std::string concurrent_sessions_action = "flag";
        // Credits spent within the window above multiplier x the larger of the user's own and the
        // cohort's average for such a window (over the last 7 days), and above min_credits.
        int64_t burn_velocity_min_credits = 500;
        int64_t burn_velocity_multiplier = 10;
        int64_t burn_velocity_window_seconds = 3600;
        std::string burn_velocity_action = "flag";
        // Failed sign-ins and token redemptions from one IP address within the window (429).
        int64_t failed_sign_ins_per_ip_threshold = 30;
        int64_t failed_sign_ins_per_ip_window_seconds = 900;
        std::string failed_sign_ins_per_ip_action = "block_action";
        // Sign-in links asked for one address within the window (429).
        int64_t sign_ins_per_account_threshold = 10;
        int64_t sign_ins_per_account_window_seconds = 3600;
        std::string sign_ins_per_account_action = "block_action";
        // A provider identity that reports another address than its user's.
        std::string identity_email_mismatch_action = "flag";
    } fraud;
    struct Log {
        // trace, debug, info, warn, error.
        std::string level = "info";
    } log;

    // Loads `path` (may be empty: defaults only), then applies `env` overrides.
    static Result<Config> Load(const std::string& path, const std::map<std::string, std::string>& env);
    // Effective configuration as TOML with secrets redacted.
    std::string Dump() const;
    // Checks ranges; returns the first problem found.
    Status Validate() const;
};

// The process environment as a map (for Config::Load).
std::map<std::string, std::string> ProcessEnvironment();

// A database URL with its password shown as REDACTED (postgres://user:secret@host/db, and a
// ?password= or &password= parameter); the rest stays visible.
std::string RedactUrl(const std::string& url);

}  // namespace beta500
