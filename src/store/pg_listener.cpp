#include "store/pg_listener.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "store/postgres.h"

namespace beta500::store {

PgListener::PgListener(std::string url, std::map<std::string, Handler> handlers, std::function<void()> on_connect)
    : url_(std::move(url)), handlers_(std::move(handlers)), on_connect_(std::move(on_connect)) {
    thread_ = std::thread([this] { Run(); });
}

PgListener::~PgListener() {
    stopping_ = true;
    thread_.join();
}

void PgListener::Run() {
    // How long a wait lasts before the stop flag is looked at again, and the pause before
    // connecting again after a failure.
    constexpr int kPollMs = 200;
    constexpr auto kRetry = std::chrono::seconds(1);
    bool failing = false;
    while (!stopping_) {
        auto connection = PgConnection::Open(url_);
        Status listening = connection ? Status::Ok() : Status(connection.error());
        for (auto it = handlers_.begin(); listening && it != handlers_.end(); ++it) {
            auto listened = (*connection)->Exec("LISTEN " + it->first);
            listening = listened ? Status::Ok() : Status(listened.error());
        }
        if (!listening) {
            if (!failing) {
                spdlog::error("msg=\"database notifications unavailable\" error=\"{}\"", listening.error().message);
            }
            failing = true;
            for (auto until = std::chrono::steady_clock::now() + kRetry;
                 !stopping_ && std::chrono::steady_clock::now() < until;) {
                std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
            }
            continue;
        }
        if (failing) {
            spdlog::info("msg=\"database notifications restored\"");
        }
        failing = false;
        if (on_connect_) {
            on_connect_();
        }
        while (!stopping_) {
            pollfd wait{(*connection)->socket(), POLLIN, 0};
            if (::poll(&wait, 1, kPollMs) < 0) {
                continue;
            }
            auto notes = (*connection)->Notifications();
            if (!notes) {
                spdlog::error("msg=\"database notifications lost\" error=\"{}\"", notes.error().message);
                failing = true;
                break;
            }
            for (const auto& [channel, payload] : *notes) {
                if (auto handler = handlers_.find(channel); handler != handlers_.end()) {
                    handler->second(payload);
                }
            }
        }
    }
}

}  // namespace beta500::store
