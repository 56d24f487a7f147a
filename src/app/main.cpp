// beta500: the only composition root. Parses the command line, loads the configuration and
// builds and wires the parts for each command (serve, migrate, config, users, tokens, invite,
// mail, ledger).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "api/api.h"
#include "catalog/import.h"
#include "catalog/recommend.h"
#include "catalog/search.h"
#include "fraud/guard.h"
#include "app/loadtest.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "dubbing/factory.h"
#include "http/server.h"
#include "identity/invitations.h"
#include "ledger/audit.h"
#include "ledger/writer.h"
#include "mail/mail.h"
#include "mail/outbox.h"
#include "obs/metrics.h"
#include "store/database.h"
#include "store/pg_ledger_store.h"
#include "store/pg_listener.h"

namespace beta500 {
namespace {

// Wallets whose due lots and holds one expiry run handles at most (bounds one batch's work).
constexpr int64_t kExpiryLimitPerRun = 1000;

struct Flags {
    std::string config_path;
    std::string listen;
    std::string data_dir;
};

int Fail(const std::string& message) {
    std::fprintf(stderr, "beta500: %s\n", message.c_str());
    return 1;
}

Result<Config> LoadConfig(const Flags& flags) {
    auto config = Config::Load(flags.config_path, ProcessEnvironment());
    if (!config) {
        return config;
    }
    if (!flags.listen.empty()) {
        config->server.listen = flags.listen;
    }
    if (!flags.data_dir.empty()) {
        config->database.data_dir = flags.data_dir;
    }
    if (Status status = config->Validate(); !status) {
        return status.error();
    }
    return config;
}

ledger::WriterOptions WriterOptionsFrom(const Config& config) {
    ledger::WriterOptions options;
    options.queue_max = config.ledger.queue_max;
    options.batch_max = config.ledger.batch_max;
    options.idempotency_ttl_ms = config.ledger.idempotency_ttl_days * 24 * 3600 * 1000;
    options.limits.amount_max = config.ledger.amount_max;
    options.limits.hold_ttl_seconds_max = config.ledger.hold_ttl_seconds_max;
    return options;
}

// Runs `work` every interval until destroyed (the destructor waits for a run in progress).
class PeriodicJob {
   public:
    PeriodicJob(std::chrono::seconds interval, std::function<void()> work)
        : thread_([this, interval, work = std::move(work)] {
              std::unique_lock lock(mutex_);
              while (!stop_.wait_for(lock, interval, [this] { return stopping_; })) {
                  lock.unlock();
                  work();
                  lock.lock();
              }
          }) {}
    ~PeriodicJob() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        stop_.notify_one();
        thread_.join();
    }

   private:
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopping_ = false;  // GUARDED_BY(mutex_)
    std::thread thread_;
};

// The log mail transport prints sign-in links: it is for development on loopback only.
bool LoopbackOnly(const std::string& listen) {
    const std::string host = listen.substr(0, listen.rfind(':'));
    return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// Keeps the search index current: loads it from disk or builds it at start-up, then applies
// catalog changes made by any process (the CLI importer too) every few seconds.
class IndexKeeper {
   public:
    IndexKeeper(catalog::CatalogStore& store, catalog::XapianSearch& search, const Clock& clock,
                obs::Registry& metrics)
        : store_(store),
          search_(search),
          clock_(clock),
          titles_(metrics.GetGauge("beta500_search_index_titles", "Titles in the search index.")),
          thread_([this] { Run(); }) {}
    ~IndexKeeper() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        stop_.notify_all();
        thread_.join();
    }

   private:
    static constexpr auto kPollInterval = std::chrono::seconds(5);

    void Run() {
        const auto count = store_.Count();
        if (count && search_.Load(*count)) {
            spdlog::info("msg=\"search index loaded\" titles={}", *count);
        } else {
            Build();
        }
        titles_.Set(search_.documents());
        // From where the index is current: what changed since (also while no server ran) follows.
        int64_t since_ms = search_.indexed_until();
        std::unique_lock lock(mutex_);
        while (!stop_.wait_for(lock, kPollInterval, [this] { return stopping_; })) {
            if (!search_.ready()) {
                Build();  // the first build failed: try again
                since_ms = search_.indexed_until();
                continue;
            }
            // Changes are stamped in milliseconds by their writer's clock: look a second back.
            const int64_t now_ms = clock_.NowMs();
            auto changed = store_.ChangedSince(since_ms - 1000);
            Status updated = changed ? Status::Ok() : Status(changed.error());
            if (changed && !changed->empty()) {
                updated = search_.Update(*changed);
                if (updated) {
                    updated = search_.MarkIndexedUntil(now_ms);
                }
                titles_.Set(search_.documents());
            }
            if (!updated) {
                // Tried again at the next look, from the same point.
                spdlog::warn("msg=\"search index not updated\" error={}", LogQuote(updated.error().message));
                continue;
            }
            since_ms = now_ms;
        }
    }

    void Build() {
        const auto started = std::chrono::steady_clock::now();
        if (Status built = search_.Rebuild(store_, clock_.NowMs()); !built) {
            spdlog::error("msg=\"search index not built\" error={}", LogQuote(built.error().message));
            return;
        }
        spdlog::info("msg=\"search index built\" titles={} ms={}", search_.documents(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                         .count());
    }

    catalog::CatalogStore& store_;
    catalog::XapianSearch& search_;
    const Clock& clock_;
    obs::Gauge& titles_;
    std::mutex mutex_;
    std::condition_variable stop_;
    bool stopping_ = false;  // GUARDED_BY(mutex_)
    std::thread thread_;
};

// beta.admin_email: the first admin of a new installation gets an admin invitation (mailed
// through the outbox; with the log transport the sign-in link appears in the log).
Status InviteFirstAdmin(const Config& config, store::Database& database, const Clock& clock) {
    const std::string email = identity::NormalizeEmail(config.beta.admin_email);
    if (email.empty()) {
        return Error{ErrorCode::kInvalidArgument, "beta.admin_email is not a valid email address"};
    }
    const std::string sign_in = config.server.public_url + "/signin";
    auto user = database.FindUserByEmail(email);
    if (!user) {
        return user.error();
    }
    if (*user) {
        if ((*user)->role != "admin") {
            spdlog::warn("msg=\"beta.admin_email belongs to a user who is not an admin\" email={}", LogQuote(email));
        }
        spdlog::info("msg=\"admin present\" email={} sign_in={}", LogQuote(email), sign_in);
        return Status::Ok();
    }
    auto invited = identity::Invitations(config, database, clock)
                       .Create(email, std::nullopt, std::nullopt, "first admin (beta.admin_email)",
                               "system:admin_email", "admin");
    if (!invited) {
        return invited.error();
    }
    if (invited->outcome != store::InviteOutcome::kCreated && invited->outcome != store::InviteOutcome::kUnchanged &&
        invited->outcome != store::InviteOutcome::kConflict) {
        return Error{ErrorCode::kFailedPrecondition, "beta.admin_email could not be invited"};
    }
    spdlog::info("msg=\"admin invitation open: sign in with this address\" email={} sign_in={}", LogQuote(email),
                 sign_in);
    return Status::Ok();
}

// On a shared PostgreSQL, what other servers do reaches this one: balances for the browsers and
// sessions connected here, terminations of sessions held here, suspensions.
std::unique_ptr<store::PgListener> ListenToOtherServers(const Config& config, store::Database& database,
                                                        live::Manager& live, live::EventBus& events,
                                                        const std::string& instance) {
    auto parse_id = [](const std::string& text) {
        int64_t id = 0;
        std::from_chars(text.data(), text.data() + text.size(), id);
        return id;
    };
    return std::make_unique<store::PgListener>(
        config.database.url,
        std::map<std::string, store::PgListener::Handler>{
            {store::kBalanceChannel,
             [&events, instance](const std::string& payload) {
                 std::string from;
                 auto balances = store::ParseBalancePayload(payload, &from);
                 if (from != instance) {  // this server's own commits were published already
                     events.OnCommit(balances);
                 }
             }},
            {store::kTerminateChannel,
             [&live, parse_id](const std::string& payload) {
                 live.Terminate(parse_id(payload), live::EndReason::kAdminTerminated, live::kCloseTerminated);
             }},
            {store::kUsersChannel,
             [&live, &database, parse_id](const std::string& payload) {
                 (void)database.RefreshSuspended();
                 if (payload.ends_with(" suspended")) {
                     live.EndUserSessions(parse_id(payload), live::EndReason::kAdminTerminated, live::kCloseBlocked);
                 }
             }}},
        // After a gap, the suspensions it missed: their users' sessions here end too.
        [&live, &database] {
            if (database.RefreshSuspended()) {
                live.EndWhere([&database](const live::Session& session) { return database.IsSuspended(session.user_id); },
                              live::EndReason::kAdminTerminated, live::kCloseBlocked);
            }
        });
}

int Serve(const Config& config) {
    if (config.mail.transport == "log" && !LoopbackOnly(config.server.listen)) {
        return Fail("mail.transport = \"log\" prints sign-in links to the log, so it serves only on "
                    "a loopback address; set mail.transport = \"smtp\" to listen on " +
                    config.server.listen);
    }
    // Signals go to one waiting thread only: block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // A pipe whose reader is gone (a dubbing stage that stopped) is an error to handle, not a
    // reason to die; sockets already send with MSG_NOSIGNAL.
    std::signal(SIGPIPE, SIG_IGN);

    InitLogging(config.log.level);
    SystemClock clock;
    obs::Registry metrics;
    auto database = store::Database::Open(config.database, clock);
    if (!database) {
        return Fail(database.error().message);
    }
    if (Status locked = (*database)->LockExclusive(); !locked) {
        return Fail(locked.error().message);
    }
    if (!config.beta.admin_email.empty()) {
        if (Status invited = InviteFirstAdmin(config, **database, clock); !invited) {
            return Fail(invited.error().message);
        }
    }
    ledger::WriterOptions writer_options = WriterOptionsFrom(config);
    writer_options.is_suspended = [&database = **database](int64_t user_id) {
        return database.IsSuspended(user_id);
    };
    live::EventBus events;
    writer_options.on_commit = [&events](const std::vector<ledger::WalletBalance>& balances) {
        events.OnCommit(balances);
    };
    // This process among the servers sharing the database (its sessions and lease carry it).
    const std::string instance = "pid-" + std::to_string(::getpid()) + "-" + RandomToken(4);
    // Each store has a connection of its own: opened before anything starts (on PostgreSQL a
    // connection can be refused, "too many clients" for example).
    std::unique_ptr<ledger::LedgerStore> ledger_store;
    std::unique_ptr<live::SessionStore> sessions;
    std::unique_ptr<catalog::CatalogStore> catalog_store;
    try {
        ledger_store = (*database)->NewLedgerStore(instance);
        sessions = (*database)->NewSessionStore();
        catalog_store = (*database)->NewCatalogStore();
    } catch (const std::exception& error) {
        return Fail(std::string("cannot open the database's stores: ") + error.what());
    }
    auto writer = ledger::Writer::Start(std::move(ledger_store), writer_options, clock, &metrics);
    if (!writer) {
        return Fail(writer.error().message);
    }
    auto blocking = std::make_unique<ThreadPool>(static_cast<size_t>(config.database.read_connections));
    const auto dubbing_start = std::chrono::steady_clock::now();
    auto dubbing = dubbing::MakeEngine(config.dubbing, metrics);
    if (!dubbing) {
        return Fail("live dubbing: " + dubbing.error().message);
    }
    {
        std::string pairs;
        for (const auto& pair : (*dubbing)->languages()) {
            pairs += (pairs.empty() ? "" : ",") + pair.source + "-" + pair.target + (pair.speech ? "" : "(text)");
        }
        spdlog::info("msg=\"dubbing ready\" engine={} pairs={} ms={}", (*dubbing)->name(), pairs,
                     std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                           dubbing_start).count());
    }
    auto live = std::make_unique<live::Manager>(instance, config.session, *sessions, **writer, events,
                                                *blocking, clock, metrics);
    // Sessions a previous process left open are settled before anything else may touch them.
    auto recovered = live->Recover();
    if (!recovered) {
        return Fail("cannot settle live sessions left open: " + recovered.error().message);
    }
    if (*recovered > 0) {
        spdlog::warn("msg=\"settled live sessions left open\" sessions={}", *recovered);
    }
    live->StartWorker();
    std::unique_ptr<store::PgListener> listener;
    if ((*database)->postgres()) {
        listener = ListenToOtherServers(config, **database, *live, events, instance);
    }
    auto mail_worker = std::make_unique<mail::DeliveryWorker>(
        config.mail, mail::MakeTransport(config.mail), **database, clock, metrics);
    catalog::XapianSearch search(config.database.data_dir + "/search");
    auto index_keeper = std::make_unique<IndexKeeper>(*catalog_store, search, clock, metrics);
    catalog::RecommendationService recommendations(
        *catalog_store, clock,
        catalog::AlsOptions{static_cast<int>(config.ai.als_factors), static_cast<int>(config.ai.als_iterations)},
        config.ai.retrain_seconds, &metrics);
    recommendations.Start();
    auto domains = fraud::LoadDisposableDomains(config.fraud.disposable_domains_file);
    if (!domains) {
        return Fail(domains.error().message);
    }
    fraud::Guard guard(config, **database, clock, metrics, std::move(*domains), [&live](int64_t user_id) {
        live->EndUserSessions(user_id, live::EndReason::kFraudBlocked, live::kCloseBlocked);
    });
    std::atomic<bool> draining{false};
    api::Deps deps{config,   clock,             **database, **writer,       *blocking, metrics,
                   draining, mail_worker.get(), live.get(), sessions.get(), &events, dubbing->get(),
                   catalog_store.get(), &search, &recommendations, &guard};
    api::Api api(deps);
    http::Router router;
    api.Register(router);
    auto server = http::Server::Bind(config.server, router, metrics);
    if (!server) {
        return Fail(server.error().message);
    }
    std::thread signal_waiter([&] {
        int received = 0;
        sigwait(&signals, &received);
        spdlog::info("msg=\"shutting down\" signal={}", received);
        draining = true;
        live->Shutdown();  // every live session settled as server_shutdown, then the server drains
        (*server)->Shutdown();
    });
    spdlog::info("msg=listening address={} data_dir={} synchronous={}", (*server)->address(),
                 LogQuote(config.database.data_dir), config.database.synchronous);
    spdlog::default_logger()->flush();  // scripts wait for this line
    {
        PeriodicJob expiry(std::chrono::seconds(config.ledger.expiry_interval_seconds), [&writer = **writer] {
            const auto result = writer.Call({ledger::ExpireDue{kExpiryLimitPerRun}, "system", ""});
            if (result.rejection != ledger::Rejection::kNone) {
                spdlog::warn("msg=\"expiry job failed\" code={}", ledger::RejectionName(result.rejection));
            }
        });
        // Burn velocity for everyone who spent, once per checkpoint interval.
        PeriodicJob fraud_sweep(std::chrono::seconds(config.session.checkpoint_interval_seconds),
                                [&guard] { guard.Sweep(); });
        (*server)->Run(static_cast<int>(config.server.threads));
    }
    // Stop in dependency order: the writer's callbacks post to the blocking pool, the pool's tasks
    // use the writer (answered `unavailable` once it stopped), the live manager (which posts its
    // own tasks there too) and poke the mail worker: the pool drains before the manager goes.
    live->Shutdown();  // no-op after a signal; settles if Run returned on its own
    listener.reset();
    (*writer)->Stop();
    blocking.reset();
    live.reset();
    mail_worker.reset();  // finishes the mail in hand; it logs, so before the logger goes
    if (!draining.exchange(true)) {
        // Run returned without a signal: wake the waiter so it can be joined.
        pthread_kill(signal_waiter.native_handle(), SIGTERM);
    }
    signal_waiter.join();
    (*dubbing).reset();  // its workers log, and emit to connections: before the server goes
    spdlog::info("msg=stopped");
    recommendations.Stop();  // both log: before the logger goes
    index_keeper.reset();
    spdlog::shutdown();
    return 0;
}

int Verify(const Config& config) {
    SystemClock clock;
    auto database = store::Database::Open(config.database, clock);
    if (!database) {
        return Fail(database.error().message);
    }
    auto input = (*database)->LoadAudit(config.ledger.idempotency_ttl_days * 24 * 3600 * 1000);
    if (!input) {
        return Fail(input.error().message);
    }
    const ledger::AuditReport report = ledger::Audit(*input);
    for (const std::string& problem : report.problems) {
        std::printf("problem: %s\n", problem.c_str());
    }
    std::printf("%s: %lld accounts, %lld transfers, %lld holds checked, %zu problems\n",
                report.ok() ? "ok" : "FAILED", static_cast<long long>(report.accounts),
                static_cast<long long>(report.transfers), static_cast<long long>(report.holds),
                report.problems.size());
    return report.ok() ? 0 : 1;
}

}  // namespace
}  // namespace beta500

int main(int argc, char** argv) {
    using namespace beta500;
    // libcurl's global set-up is not thread-safe: do it before any thread starts.
    mail::GlobalInit();
    CLI::App app{"Beta 500: invite-only beta on prepaid credits"};
    app.require_subcommand(1);
    Flags flags;
    if (const char* path = std::getenv("BETA500_CONFIG")) {
        flags.config_path = path;
    }
    app.add_option("--config", flags.config_path, "TOML configuration file (or BETA500_CONFIG)");
    app.add_option("--data-dir", flags.data_dir, "Data directory (overrides database.data_dir)");

    auto* serve = app.add_subcommand("serve", "Run the HTTP server");
    serve->add_option("--listen", flags.listen, "HOST:PORT to listen on (port 0: any free port)");
    serve->add_option("--data-dir", flags.data_dir, "Data directory (overrides database.data_dir)");
    auto* migrate = app.add_subcommand("migrate", "Create or upgrade the database schema");
    auto* config_command = app.add_subcommand("config", "Print the effective configuration (secrets redacted)");
    auto* users = app.add_subcommand("users", "Manage users");
    users->require_subcommand(1);
    auto* users_create = users->add_subcommand("create", "Create a user with an empty wallet; prints the id");
    std::string email;
    std::string role = "user";
    users_create->add_option("--email", email, "Email address")->required();
    users_create->add_option("--role", role, "user or admin")->check(CLI::IsMember({"user", "admin"}));
    auto* tokens = app.add_subcommand("tokens", "Manage API tokens");
    tokens->require_subcommand(1);
    auto* tokens_create = tokens->add_subcommand("create", "Create an API token; prints it once");
    std::string scope;
    std::string name;
    tokens_create->add_option("--scope", scope, "service or admin")->required()->check(CLI::IsMember({"service", "admin"}));
    tokens_create->add_option("--name", name, "What the token is for");
    auto* invite = app.add_subcommand("invite", "Invite someone to the beta (queues the invitation mail); prints the invitation id");
    std::string invite_email;
    std::optional<int64_t> invite_credits;
    std::string invite_note;
    invite->add_option("--email", invite_email, "Email address")->required();
    invite->add_option("--credits", invite_credits, "Initial credits (default beta.initial_credits)");
    invite->add_option("--note", invite_note, "A note for admins");
    bool invite_admin = false;
    invite->add_flag("--admin", invite_admin, "Enroll this person as an admin");
    auto* catalog_command = app.add_subcommand("catalog", "The title catalog");
    catalog_command->require_subcommand(1);
    auto* catalog_import = catalog_command->add_subcommand(
        "import", "Import titles from a JSON array or CSV file; prints a report line per invalid row and the counts");
    std::string catalog_file;
    bool catalog_csv = false;
    catalog_import->add_option("FILE", catalog_file, "The file to import")->required()->check(CLI::ExistingFile);
    catalog_import->add_flag("--csv", catalog_csv, "The file is CSV with a header row (default: JSON)");
    auto* mail_command = app.add_subcommand("mail", "Mail outbox");
    mail_command->require_subcommand(1);
    auto* mail_test = mail_command->add_subcommand("test", "Queue a test mail; prints its outbox id");
    std::string mail_to;
    mail_test->add_option("--to", mail_to, "Recipient address")->required();
    auto* ledger_command = app.add_subcommand("ledger", "Ledger maintenance");
    ledger_command->require_subcommand(1);
    auto* verify = ledger_command->add_subcommand("verify", "Check every ledger invariant; non-zero exit on any problem");
    auto* loadtest = app.add_subcommand(
        "loadtest", "Run N metered WebSocket sessions against a server started on loopback; report and check");
    LoadTestOptions load;
    loadtest->add_option("--sessions", load.sessions, "Concurrent sessions")
        ->check(CLI::Range(int64_t{1}, kLoadTestSessionsMax));
    loadtest->add_option("--seconds", load.seconds, "How long each session runs")
        ->check(CLI::Range(int64_t{1}, kLoadTestSecondsMax));
    loadtest->add_option("--interval", load.interval_seconds, "The server's checkpoint interval, seconds")
        ->check(CLI::Range(int64_t{1}, int64_t{3600}));

    CLI11_PARSE(app, argc, argv);

    auto config = LoadConfig(flags);
    if (!config) {
        return Fail(config.error().message);
    }
    if (serve->parsed()) {
        return Serve(*config);
    }
    if (loadtest->parsed()) {
        return LoadTest(load);
    }
    if (config_command->parsed()) {
        std::fputs(config->Dump().c_str(), stdout);
        return 0;
    }
    if (verify->parsed()) {
        return Verify(*config);
    }
    SystemClock clock;
    auto database = store::Database::Open(config->database, clock);
    if (!database) {
        return Fail(database.error().message);
    }
    if (migrate->parsed()) {
        std::printf("migrated %s\n", (*database)->postgres() ? RedactUrl(config->database.url).c_str()
                                                             : (*database)->path().c_str());
        return 0;
    }
    if (users_create->parsed()) {
        const std::string normalized = identity::NormalizeEmail(email);
        if (normalized.empty()) {
            return Fail("not a valid email address");
        }
        auto id = (*database)->CreateUser(normalized, role);
        if (!id) {
            return Fail(id.error().message);
        }
        std::printf("%lld\n", static_cast<long long>(*id));
        return 0;
    }
    if (invite->parsed()) {
        identity::Invitations invitations(*config, **database, clock);
        auto result = invitations.Create(invite_email, invite_credits, std::nullopt, invite_note, "cli",
                                         invite_admin ? "admin" : "user");
        if (!result) {
            return Fail(result.error().message);
        }
        switch (result->outcome) {
            case store::InviteOutcome::kCreated:
            case store::InviteOutcome::kUnchanged:
                std::printf("%lld\n", static_cast<long long>(result->invitation->id));
                return 0;
            case store::InviteOutcome::kConflict:
                return Fail("an open invitation with other terms exists for this email");
            case store::InviteOutcome::kAlreadyEnrolled:
                return Fail("a user with this email is already in the beta");
            case store::InviteOutcome::kOverCap:
                return Fail("the beta is full (beta.cap = " + std::to_string(config->beta.cap) + ")");
        }
    }
    if (mail_test->parsed()) {
        auto mail = mail::Render("test", mail_to, {{"sent_at", FormatRfc3339(clock.NowMs())}});
        if (!mail) {
            return Fail(mail.error().message);
        }
        auto id = (*database)->EnqueueMail(
            mail->to, {mail->template_name, mail->subject, mail->text_body, mail->html_body});
        if (!id) {
            return Fail(id.error().message);
        }
        std::printf("%lld\n", static_cast<long long>(*id));
        return 0;
    }
    if (catalog_import->parsed()) {
        std::ifstream file(catalog_file, std::ios::binary);
        std::stringstream text;
        text << file.rdbuf();
        std::unique_ptr<catalog::CatalogStore> store;
        try {
            store = (*database)->NewCatalogStore();
        } catch (const std::exception& error) {
            return Fail(error.what());
        }
        auto report = catalog::Import(text.str(), catalog_csv, *store, nullptr, clock);
        if (!report) {
            return Fail(report.error().message);
        }
        for (const auto& row : report->rows) {
            if (row.result == "invalid") {
                std::printf("row %zu: %s\n", row.row, row.error.c_str());
            }
        }
        std::printf("created %lld, updated %lld, unchanged %lld, invalid %lld\n",
                    static_cast<long long>(report->created), static_cast<long long>(report->updated),
                    static_cast<long long>(report->unchanged), static_cast<long long>(report->invalid));
        return report->invalid > 0 ? 2 : 0;
    }
    if (tokens_create->parsed()) {
        auto token = (*database)->CreateApiToken(scope, name);
        if (!token) {
            return Fail(token.error().message);
        }
        std::printf("created %s token %lld; it is shown only once:\n%s\n", scope.c_str(),
                    static_cast<long long>(token->first), token->second.c_str());
        return 0;
    }
    return Fail("unknown command");
}
