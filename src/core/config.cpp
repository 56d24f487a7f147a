#include "core/config.h"

#include <toml.hpp>

#include <algorithm>
#include <cctype>
#include <functional>
#include <sstream>
#include <variant>
#include <vector>

extern char** environ;

namespace beta500 {
namespace {

struct Field {
    const char* section;
    const char* key;
    std::variant<int64_t*, std::string*> target;
    bool secret = false;
};

std::vector<Field> Fields(Config& c) {
    return {
        {"server", "listen", &c.server.listen},
        {"server", "threads", &c.server.threads},
        {"server", "body_bytes_max", &c.server.body_bytes_max},
        {"server", "header_bytes_max", &c.server.header_bytes_max},
        {"server", "connections_max", &c.server.connections_max},
        {"server", "idle_timeout_seconds", &c.server.idle_timeout_seconds},
        {"server", "shutdown_grace_seconds", &c.server.shutdown_grace_seconds},
        {"server", "public_url", &c.server.public_url},
        {"server", "ws_message_bytes_max", &c.server.ws_message_bytes_max},
        {"server", "ws_messages_per_second", &c.server.ws_messages_per_second},
        {"server", "stream_outbox_max", &c.server.stream_outbox_max},
        {"session", "checkpoint_interval_seconds", &c.session.checkpoint_interval_seconds},
        {"session", "checkpoint_batch_max", &c.session.checkpoint_batch_max},
        {"session", "rate_per_minute", &c.session.rate_per_minute},
        {"session", "preauth_credits", &c.session.preauth_credits},
        {"session", "concurrent_max", &c.session.concurrent_max},
        {"session", "hold_ttl_seconds", &c.session.hold_ttl_seconds},
        {"session", "allowed_origins", &c.session.allowed_origins},
        {"session", "instance_lease_seconds", &c.session.instance_lease_seconds},
        {"beta", "cap", &c.beta.cap},
        {"beta", "initial_credits", &c.beta.initial_credits},
        {"beta", "invitation_ttl_days", &c.beta.invitation_ttl_days},
        {"beta", "admin_email", &c.beta.admin_email},
        {"database", "url", &c.database.url, true},
        {"database", "data_dir", &c.database.data_dir},
        {"database", "synchronous", &c.database.synchronous},
        {"database", "read_connections", &c.database.read_connections},
        {"database", "busy_timeout_ms", &c.database.busy_timeout_ms},
        {"ledger", "queue_max", &c.ledger.queue_max},
        {"ledger", "batch_max", &c.ledger.batch_max},
        {"ledger", "amount_max", &c.ledger.amount_max},
        {"ledger", "hold_ttl_seconds_max", &c.ledger.hold_ttl_seconds_max},
        {"ledger", "expiry_interval_seconds", &c.ledger.expiry_interval_seconds},
        {"ledger", "idempotency_ttl_days", &c.ledger.idempotency_ttl_days},
        {"auth", "magic_link_ttl_seconds", &c.auth.magic_link_ttl_seconds},
        {"auth", "sign_in_resend_seconds", &c.auth.sign_in_resend_seconds},
        {"auth", "session_idle_seconds", &c.auth.session_idle_seconds},
        {"auth", "session_absolute_seconds", &c.auth.session_absolute_seconds},
        {"mail", "transport", &c.mail.transport},
        {"mail", "smtp_url", &c.mail.smtp_url},
        {"mail", "smtp_username", &c.mail.smtp_username},
        {"mail", "smtp_password", &c.mail.smtp_password, true},
        {"mail", "smtp_starttls", &c.mail.smtp_starttls},
        {"mail", "from", &c.mail.from},
        {"mail", "max_attempts", &c.mail.max_attempts},
        {"mail", "backoff_base_seconds", &c.mail.backoff_base_seconds},
        {"mail", "backoff_max_seconds", &c.mail.backoff_max_seconds},
        {"mail", "poll_interval_ms", &c.mail.poll_interval_ms},
        {"mail", "batch_max", &c.mail.batch_max},
        {"mail", "timeout_seconds", &c.mail.timeout_seconds},
        {"oidc", "login_ttl_seconds", &c.oidc.login_ttl_seconds},
        {"oidc", "clock_skew_seconds", &c.oidc.clock_skew_seconds},
        {"oidc", "token_max_age_seconds", &c.oidc.token_max_age_seconds},
        {"oidc", "jwks_max_age_seconds", &c.oidc.jwks_max_age_seconds},
        {"oidc", "jwks_refetch_seconds", &c.oidc.jwks_refetch_seconds},
        {"oidc", "http_timeout_seconds", &c.oidc.http_timeout_seconds},
        {"ai", "search_credits", &c.ai.search_credits},
        {"ai", "recommendation_credits", &c.ai.recommendation_credits},
        {"ai", "retrain_seconds", &c.ai.retrain_seconds},
        {"ai", "als_factors", &c.ai.als_factors},
        {"ai", "als_iterations", &c.ai.als_iterations},
        {"dubbing", "engine", &c.dubbing.engine},
        {"dubbing", "recognizer", &c.dubbing.recognizer},
        {"dubbing", "translator", &c.dubbing.translator},
        {"dubbing", "synthesizer", &c.dubbing.synthesizer},
        {"dubbing", "pocketsphinx_model_dir", &c.dubbing.pocketsphinx_model_dir},
        {"dubbing", "apertium_modes_dir", &c.dubbing.apertium_modes_dir},
        {"dubbing", "streams_max", &c.dubbing.streams_max},
        {"dubbing", "silence_ms", &c.dubbing.silence_ms},
        {"dubbing", "utterance_ms_max", &c.dubbing.utterance_ms_max},
        {"dubbing", "partial_ms", &c.dubbing.partial_ms},
        {"dubbing", "backlog_ms", &c.dubbing.backlog_ms},
        {"fraud", "accounts_per_ip_threshold", &c.fraud.accounts_per_ip_threshold},
        {"fraud", "accounts_per_ip_window_seconds", &c.fraud.accounts_per_ip_window_seconds},
        {"fraud", "accounts_per_ip_action", &c.fraud.accounts_per_ip_action},
        {"fraud", "accounts_per_device_threshold", &c.fraud.accounts_per_device_threshold},
        {"fraud", "accounts_per_device_window_seconds", &c.fraud.accounts_per_device_window_seconds},
        {"fraud", "accounts_per_device_action", &c.fraud.accounts_per_device_action},
        {"fraud", "disposable_email_action", &c.fraud.disposable_email_action},
        {"fraud", "disposable_domains_file", &c.fraud.disposable_domains_file},
        {"fraud", "session_starts_threshold", &c.fraud.session_starts_threshold},
        {"fraud", "session_starts_window_seconds", &c.fraud.session_starts_window_seconds},
        {"fraud", "session_starts_action", &c.fraud.session_starts_action},
        {"fraud", "concurrent_sessions_threshold", &c.fraud.concurrent_sessions_threshold},
        {"fraud", "concurrent_sessions_window_seconds", &c.fraud.concurrent_sessions_window_seconds},
        {"fraud", "concurrent_sessions_action", &c.fraud.concurrent_sessions_action},
        {"fraud", "burn_velocity_min_credits", &c.fraud.burn_velocity_min_credits},
        {"fraud", "burn_velocity_multiplier", &c.fraud.burn_velocity_multiplier},
        {"fraud", "burn_velocity_window_seconds", &c.fraud.burn_velocity_window_seconds},
        {"fraud", "burn_velocity_action", &c.fraud.burn_velocity_action},
        {"fraud", "failed_sign_ins_per_ip_threshold", &c.fraud.failed_sign_ins_per_ip_threshold},
        {"fraud", "failed_sign_ins_per_ip_window_seconds", &c.fraud.failed_sign_ins_per_ip_window_seconds},
        {"fraud", "failed_sign_ins_per_ip_action", &c.fraud.failed_sign_ins_per_ip_action},
        {"fraud", "sign_ins_per_account_threshold", &c.fraud.sign_ins_per_account_threshold},
        {"fraud", "sign_ins_per_account_window_seconds", &c.fraud.sign_ins_per_account_window_seconds},
        {"fraud", "sign_ins_per_account_action", &c.fraud.sign_ins_per_account_action},
        {"fraud", "identity_email_mismatch_action", &c.fraud.identity_email_mismatch_action},
        {"log", "level", &c.log.level},
    };
}

std::string EnvName(const Field& field) {
    std::string name = std::string("BETA500_") + field.section + "_" + field.key;
    for (char& ch : name) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    return name;
}

Error Invalid(std::string message) { return Error{ErrorCode::kInvalidArgument, std::move(message)}; }

Status SetFromString(const Field& field, const std::string& text, const std::string& origin) {
    if (auto* string_target = std::get_if<std::string*>(&field.target)) {
        **string_target = text;
        return Status::Ok();
    }
    try {
        size_t used = 0;
        const long long value = std::stoll(text, &used);
        if (used != text.size()) {
            throw std::invalid_argument("trailing characters");
        }
        *std::get<int64_t*>(field.target) = value;
    } catch (const std::exception&) {
        return Invalid(origin + ": expected an integer for " + field.section + "." + field.key);
    }
    return Status::Ok();
}

// [[oidc.providers]]: an array of tables with string values.
Status ReadProviders(const toml::value& value, std::vector<Config::OidcProvider>& providers) {
    if (!value.is_array()) {
        return Invalid("config file: oidc.providers must be an array of tables ([[oidc.providers]])");
    }
    for (const auto& entry : value.as_array()) {
        if (!entry.is_table()) {
            return Invalid("config file: oidc.providers must be an array of tables ([[oidc.providers]])");
        }
        Config::OidcProvider provider;
        const std::pair<const char*, std::string*> keys[] = {
            {"name", &provider.name},           {"display_name", &provider.display_name},
            {"issuer", &provider.issuer},       {"client_id", &provider.client_id},
            {"client_secret", &provider.client_secret}, {"scopes", &provider.scopes}};
        for (const auto& [key, item] : entry.as_table()) {
            const auto* known = std::find_if(std::begin(keys), std::end(keys),
                                             [&](const auto& pair) { return key == pair.first; });
            if (known == std::end(keys)) {
                return Invalid("config file: unknown setting oidc.providers." + key);
            }
            if (!item.is_string()) {
                return Invalid("config file: oidc.providers." + key + " must be a string");
            }
            *known->second = item.as_string().str;
        }
        providers.push_back(std::move(provider));
    }
    return Status::Ok();
}

}  // namespace

Result<Config> Config::Load(const std::string& path, const std::map<std::string, std::string>& env) {
    Config config;
    auto fields = Fields(config);
    if (!path.empty()) {
        toml::value document;
        try {
            document = toml::parse(path);
        } catch (const std::exception& error) {
            return Invalid(std::string("config file: ") + error.what());
        }
        if (!document.is_table()) {
            return Invalid("config file: not a table");
        }
        for (const auto& [section, table] : document.as_table()) {
            if (!table.is_table()) {
                return Invalid("config file: [" + section + "] is not a table");
            }
            for (const auto& [key, value] : table.as_table()) {
                if (section == "oidc" && key == "providers") {
                    if (Status status = ReadProviders(value, config.oidc.providers); !status) {
                        return status.error();
                    }
                    continue;
                }
                const Field* match = nullptr;
                for (const auto& field : fields) {
                    if (section == field.section && key == field.key) {
                        match = &field;
                    }
                }
                if (match == nullptr) {
                    return Invalid("config file: unknown setting " + section + "." + key);
                }
                if (auto* string_target = std::get_if<std::string*>(&match->target)) {
                    if (!value.is_string()) {
                        return Invalid("config file: " + section + "." + key + " must be a string");
                    }
                    **string_target = value.as_string().str;
                } else {
                    if (!value.is_integer()) {
                        return Invalid("config file: " + section + "." + key + " must be an integer");
                    }
                    *std::get<int64_t*>(match->target) = value.as_integer();
                }
            }
        }
    }
    for (const auto& field : fields) {
        const auto found = env.find(EnvName(field));
        if (found != env.end()) {
            if (Status status = SetFromString(field, found->second, found->first); !status) {
                return status.error();
            }
        }
    }
    for (auto& provider : config.oidc.providers) {
        std::string name = "BETA500_OIDC_" + provider.name + "_CLIENT_SECRET";
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) {
            return ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
        });
        if (const auto found = env.find(name); found != env.end()) {
            provider.client_secret = found->second;
        }
    }
    if (Status status = config.Validate(); !status) {
        return status.error();
    }
    return config;
}

Status Config::Validate() const {
    auto positive = [](int64_t value, const char* name) -> Status {
        if (value <= 0) {
            return Invalid(std::string(name) + " must be positive");
        }
        return Status::Ok();
    };
    for (auto [value, name] : std::initializer_list<std::pair<int64_t, const char*>>{
             {server.threads, "server.threads"},
             {server.body_bytes_max, "server.body_bytes_max"},
             {server.header_bytes_max, "server.header_bytes_max"},
             {server.connections_max, "server.connections_max"},
             {server.idle_timeout_seconds, "server.idle_timeout_seconds"},
             {server.shutdown_grace_seconds, "server.shutdown_grace_seconds"},
             {server.ws_message_bytes_max, "server.ws_message_bytes_max"},
             {server.ws_messages_per_second, "server.ws_messages_per_second"},
             {server.stream_outbox_max, "server.stream_outbox_max"},
             {session.checkpoint_interval_seconds, "session.checkpoint_interval_seconds"},
             {session.checkpoint_batch_max, "session.checkpoint_batch_max"},
             {session.rate_per_minute, "session.rate_per_minute"},
             {session.preauth_credits, "session.preauth_credits"},
             {session.concurrent_max, "session.concurrent_max"},
             {session.hold_ttl_seconds, "session.hold_ttl_seconds"},
             {session.instance_lease_seconds, "session.instance_lease_seconds"},
             {database.read_connections, "database.read_connections"},
             {database.busy_timeout_ms, "database.busy_timeout_ms"},
             {ledger.queue_max, "ledger.queue_max"},
             {ledger.batch_max, "ledger.batch_max"},
             {ledger.amount_max, "ledger.amount_max"},
             {ledger.hold_ttl_seconds_max, "ledger.hold_ttl_seconds_max"},
             {ledger.expiry_interval_seconds, "ledger.expiry_interval_seconds"},
             {ledger.idempotency_ttl_days, "ledger.idempotency_ttl_days"},
             {beta.cap, "beta.cap"},
             {beta.invitation_ttl_days, "beta.invitation_ttl_days"},
             {auth.magic_link_ttl_seconds, "auth.magic_link_ttl_seconds"},
             {auth.session_idle_seconds, "auth.session_idle_seconds"},
             {auth.session_absolute_seconds, "auth.session_absolute_seconds"},
             {mail.max_attempts, "mail.max_attempts"},
             {mail.backoff_base_seconds, "mail.backoff_base_seconds"},
             {mail.backoff_max_seconds, "mail.backoff_max_seconds"},
             {mail.poll_interval_ms, "mail.poll_interval_ms"},
             {mail.batch_max, "mail.batch_max"},
             {mail.timeout_seconds, "mail.timeout_seconds"},
             {oidc.login_ttl_seconds, "oidc.login_ttl_seconds"},
             {oidc.token_max_age_seconds, "oidc.token_max_age_seconds"},
             {oidc.jwks_max_age_seconds, "oidc.jwks_max_age_seconds"},
             {oidc.jwks_refetch_seconds, "oidc.jwks_refetch_seconds"},
             {oidc.http_timeout_seconds, "oidc.http_timeout_seconds"},
             {ai.search_credits, "ai.search_credits"},
             {ai.recommendation_credits, "ai.recommendation_credits"},
             {ai.retrain_seconds, "ai.retrain_seconds"},
             {ai.als_factors, "ai.als_factors"},
             {ai.als_iterations, "ai.als_iterations"},
             {dubbing.streams_max, "dubbing.streams_max"},
             {dubbing.silence_ms, "dubbing.silence_ms"},
             {dubbing.utterance_ms_max, "dubbing.utterance_ms_max"},
             {dubbing.partial_ms, "dubbing.partial_ms"},
             {dubbing.backlog_ms, "dubbing.backlog_ms"},
             {fraud.accounts_per_ip_window_seconds, "fraud.accounts_per_ip_window_seconds"},
             {fraud.accounts_per_device_window_seconds, "fraud.accounts_per_device_window_seconds"},
             {fraud.session_starts_window_seconds, "fraud.session_starts_window_seconds"},
             {fraud.concurrent_sessions_window_seconds, "fraud.concurrent_sessions_window_seconds"},
             {fraud.burn_velocity_multiplier, "fraud.burn_velocity_multiplier"},
             {fraud.burn_velocity_window_seconds, "fraud.burn_velocity_window_seconds"},
             {fraud.failed_sign_ins_per_ip_window_seconds, "fraud.failed_sign_ins_per_ip_window_seconds"},
             {fraud.sign_ins_per_account_window_seconds, "fraud.sign_ins_per_account_window_seconds"}}) {
        if (Status status = positive(value, name); !status) {
            return status;
        }
    }
    if (ledger.amount_max > (int64_t{1} << 50)) {
        return Invalid("ledger.amount_max must be at most 2^50");
    }
    if (database.synchronous != "full" && database.synchronous != "normal") {
        return Invalid("database.synchronous must be \"full\" or \"normal\"");
    }
    if (log.level != "trace" && log.level != "debug" && log.level != "info" &&
        log.level != "warn" && log.level != "error") {
        return Invalid("log.level must be one of trace, debug, info, warn, error");
    }
    if (session.hold_ttl_seconds <= 2 * session.checkpoint_interval_seconds ||
        session.hold_ttl_seconds > ledger.hold_ttl_seconds_max) {
        return Invalid("session.hold_ttl_seconds must exceed twice the checkpoint interval and be "
                       "at most ledger.hold_ttl_seconds_max");
    }
    if (session.preauth_credits > ledger.amount_max || session.rate_per_minute > ledger.amount_max) {
        return Invalid("session.preauth_credits and session.rate_per_minute must be at most "
                       "ledger.amount_max");
    }
    if (auth.sign_in_resend_seconds < 0) {
        return Invalid("auth.sign_in_resend_seconds must not be negative");
    }
    if (beta.initial_credits < 0 || beta.initial_credits > ledger.amount_max) {
        return Invalid("beta.initial_credits must be between 0 and ledger.amount_max");
    }
    if (server.public_url.rfind("http://", 0) != 0 && server.public_url.rfind("https://", 0) != 0) {
        return Invalid("server.public_url must start with http:// or https://");
    }
    if (mail.transport != "log" && mail.transport != "smtp") {
        return Invalid("mail.transport must be \"log\" or \"smtp\"");
    }
    if (mail.smtp_starttls != "required" && mail.smtp_starttls != "try" && mail.smtp_starttls != "none") {
        return Invalid("mail.smtp_starttls must be \"required\", \"try\" or \"none\"");
    }
    if (mail.smtp_url.rfind("smtp://", 0) != 0 && mail.smtp_url.rfind("smtps://", 0) != 0) {
        return Invalid("mail.smtp_url must start with smtp:// or smtps://");
    }
    // The relay's host: between "://" and the port or path.
    const size_t host_start = mail.smtp_url.find("://") + 3;
    std::string host = mail.smtp_url.substr(host_start);
    host = host.substr(0, host.rfind(']') != std::string::npos ? host.rfind(']') + 1 : host.find_first_of(":/"));
    const bool loopback_relay = host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
    if (!mail.smtp_username.empty() && mail.smtp_url.rfind("smtp://", 0) == 0 &&
        mail.smtp_starttls != "required" && !loopback_relay) {
        return Invalid("mail.smtp_starttls must be \"required\" when a username is set (or use smtps://)");
    }
    if (database.url != "sqlite" && !database.url.starts_with("postgres://") &&
        !database.url.starts_with("postgresql://")) {
        return Invalid("database.url must be \"sqlite\" or a postgres:// or postgresql:// URL");
    }
    if (ai.search_credits > ledger.amount_max || ai.recommendation_credits > ledger.amount_max) {
        return Invalid("ai.search_credits and ai.recommendation_credits must be at most ledger.amount_max");
    }
    if (ai.als_factors > 256 || ai.als_iterations > 100) {
        return Invalid("ai.als_factors must be at most 256 and ai.als_iterations at most 100");
    }
    if (dubbing.engine != "pipeline" && dubbing.engine != "passthrough") {
        return Invalid("dubbing.engine must be \"pipeline\" or \"passthrough\"");
    }
    if (dubbing.recognizer != "pocketsphinx" && dubbing.recognizer != "none") {
        return Invalid("dubbing.recognizer must be \"pocketsphinx\" or \"none\" (text in only)");
    }
    if (dubbing.translator != "apertium" || dubbing.synthesizer != "espeak-ng") {
        return Invalid("dubbing.translator must be \"apertium\" and dubbing.synthesizer \"espeak-ng\"");
    }
    if (dubbing.streams_max > 256) {
        return Invalid("dubbing.streams_max must be at most 256 (each stream has a thread, and a decoder for speech)");
    }
    if (dubbing.backlog_ms < 1000) {
        return Invalid("dubbing.backlog_ms must be at least 1000 (a text waiting counts as a second of audio)");
    }
    if (dubbing.silence_ms < 100 || dubbing.utterance_ms_max > 60000 || dubbing.silence_ms >= dubbing.utterance_ms_max) {
        return Invalid("dubbing.silence_ms must be at least 100 and below dubbing.utterance_ms_max, which is at most 60000");
    }
    for (const auto& [action, name] : std::initializer_list<std::pair<const std::string*, const char*>>{
             {&fraud.accounts_per_ip_action, "fraud.accounts_per_ip_action"},
             {&fraud.accounts_per_device_action, "fraud.accounts_per_device_action"},
             {&fraud.disposable_email_action, "fraud.disposable_email_action"},
             {&fraud.session_starts_action, "fraud.session_starts_action"},
             {&fraud.concurrent_sessions_action, "fraud.concurrent_sessions_action"},
             {&fraud.burn_velocity_action, "fraud.burn_velocity_action"},
             {&fraud.failed_sign_ins_per_ip_action, "fraud.failed_sign_ins_per_ip_action"},
             {&fraud.sign_ins_per_account_action, "fraud.sign_ins_per_account_action"},
             {&fraud.identity_email_mismatch_action, "fraud.identity_email_mismatch_action"}}) {
        if (*action != "flag" && *action != "block_action" && *action != "suspend_user" && *action != "off") {
            return Invalid(std::string(name) + " must be \"flag\", \"block_action\", \"suspend_user\" or \"off\"");
        }
    }
    for (const auto& [threshold, name] : std::initializer_list<std::pair<int64_t, const char*>>{
             {fraud.accounts_per_ip_threshold, "fraud.accounts_per_ip_threshold"},
             {fraud.accounts_per_device_threshold, "fraud.accounts_per_device_threshold"},
             {fraud.session_starts_threshold, "fraud.session_starts_threshold"},
             {fraud.concurrent_sessions_threshold, "fraud.concurrent_sessions_threshold"},
             {fraud.burn_velocity_min_credits, "fraud.burn_velocity_min_credits"},
             {fraud.failed_sign_ins_per_ip_threshold, "fraud.failed_sign_ins_per_ip_threshold"},
             {fraud.sign_ins_per_account_threshold, "fraud.sign_ins_per_account_threshold"}}) {
        if (threshold < 0) {
            return Invalid(std::string(name) + " must not be negative");
        }
    }
    if (oidc.clock_skew_seconds < 0 || oidc.clock_skew_seconds > 300) {
        return Invalid("oidc.clock_skew_seconds must be between 0 and 300");
    }
    for (size_t i = 0; i < oidc.providers.size(); ++i) {
        const OidcProvider& provider = oidc.providers[i];
        const bool good_name = !provider.name.empty() && provider.name.size() <= 32 &&
                               std::all_of(provider.name.begin(), provider.name.end(), [](char ch) {
                                   return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
                               });
        if (!good_name) {
            return Invalid("oidc.providers: name must be 1 to 32 of a-z, 0-9 and -");
        }
        for (size_t j = 0; j < i; ++j) {
            if (oidc.providers[j].name == provider.name) {
                return Invalid("oidc.providers: name " + provider.name + " is used twice");
            }
        }
        if (provider.issuer.rfind("https://", 0) != 0 && provider.issuer.rfind("http://127.", 0) != 0 &&
            provider.issuer.rfind("http://localhost", 0) != 0) {
            return Invalid("oidc.providers." + provider.name + ".issuer must be an https:// URL");
        }
        if (provider.client_id.empty() || provider.client_secret.empty()) {
            return Invalid("oidc.providers." + provider.name + " needs client_id and client_secret");
        }
        if (provider.scopes.find("openid") == std::string::npos) {
            return Invalid("oidc.providers." + provider.name + ".scopes must include openid");
        }
    }
    if (server.listen.find(':') == std::string::npos) {
        return Invalid("server.listen must be HOST:PORT");
    }
    return Status::Ok();
}

std::string Config::Dump() const {
    Config copy = *this;
    std::ostringstream out;
    const char* current = "";
    for (const auto& field : Fields(copy)) {
        if (std::string_view(current) != field.section) {
            out << (current[0] ? "\n" : "") << "[" << field.section << "]\n";
            current = field.section;
        }
        out << field.key << " = ";
        if (auto* string_target = std::get_if<std::string*>(&field.target)) {
            std::string shown = **string_target;
            if (field.secret) {
                // A URL keeps all but its password; any other secret is hidden whole.
                shown = std::string_view(field.key) == "url" ? RedactUrl(shown)
                        : shown.empty()                      ? ""
                                                             : "REDACTED";
            }
            out << toml::value(shown);
        } else {
            out << *std::get<int64_t*>(field.target);
        }
        out << "\n";
    }
    for (const auto& provider : copy.oidc.providers) {
        out << "\n[[oidc.providers]]\nname = " << toml::value(provider.name)
            << "\ndisplay_name = " << toml::value(provider.display_name)
            << "\nissuer = " << toml::value(provider.issuer)
            << "\nclient_id = " << toml::value(provider.client_id)
            << "\nclient_secret = \"REDACTED\"\nscopes = " << toml::value(provider.scopes) << "\n";
    }
    return out.str();
}

std::map<std::string, std::string> ProcessEnvironment() {
    std::map<std::string, std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto equals = text.find('=');
        if (equals != std::string_view::npos) {
            env.emplace(text.substr(0, equals), text.substr(equals + 1));
        }
    }
    return env;
}

std::string RedactUrl(const std::string& url) {
    std::string out = url;
    const auto scheme = out.find("://");
    const auto at = out.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
        const auto colon = out.find(':', scheme + 3);
        if (colon != std::string::npos && colon < at) {
            out = out.substr(0, colon + 1) + "REDACTED" + out.substr(at);
        }
    }
    // libpq also takes ?password=... (and &password=...).
    constexpr std::string_view kKey = "password=";
    for (size_t found = out.find(kKey); found != std::string::npos; found = out.find(kKey, found + kKey.size())) {
        if (found > 0 && (out[found - 1] == '?' || out[found - 1] == '&')) {
            const size_t end = out.find('&', found);
            const size_t value = found + kKey.size();
            out.replace(value, (end == std::string::npos ? out.size() : end) - value, "REDACTED");
        }
    }
    return out;
}

}  // namespace beta500
