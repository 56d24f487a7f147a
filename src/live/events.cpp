#include "live/events.h"

#include <boost/json.hpp>

namespace beta500::live {
namespace json = boost::json;

int64_t EventBus::Subscribe(int64_t user_id, Listener listener) {
    std::lock_guard lock(mutex_);
    const int64_t id = next_id_++;
    listeners_[user_id].emplace_back(id, std::make_shared<Listener>(std::move(listener)));
    return id;
}

void EventBus::Unsubscribe(int64_t user_id, int64_t id) {
    std::lock_guard lock(mutex_);
    auto found = listeners_.find(user_id);
    if (found == listeners_.end()) {
        return;
    }
    auto& list = found->second;
    std::erase_if(list, [id](const auto& entry) { return entry.first == id; });
    if (list.empty()) {
        listeners_.erase(found);
    }
}

void EventBus::Publish(int64_t user_id, std::string_view name, const std::string& data) {
    std::vector<std::shared_ptr<Listener>> targets;
    {
        std::lock_guard lock(mutex_);
        auto found = listeners_.find(user_id);
        if (found == listeners_.end()) {
            return;
        }
        for (const auto& [id, listener] : found->second) {
            targets.push_back(listener);
        }
    }
    for (const auto& listener : targets) {
        (*listener)(name, data);
    }
}

std::string BalanceEvent(int64_t available, int64_t held, int64_t posted) {
    return json::serialize(json::object{
        {"type", "credits.balance"}, {"available", available}, {"held", held}, {"posted", posted}});
}

bool EventBus::Listening(int64_t user_id) const {
    std::lock_guard lock(mutex_);
    return listeners_.contains(user_id);
}

void EventBus::OnCommit(const std::vector<ledger::WalletBalance>& balances) {
    // On the writer thread after every commit: warnings are tracked for every wallet, but
    // events are built only for users someone listens to.
    for (const auto& balance : balances) {
        const std::vector<int> crossed = warnings_.Update(balance.user_id, balance.available, balance.received);
        if (!Listening(balance.user_id)) {
            continue;
        }
        for (int threshold : crossed) {
            Publish(balance.user_id, "credits.warning",
                    json::serialize(json::object{{"type", "credits.warning"},
                                                 {"threshold_percent", threshold},
                                                 {"available", balance.available},
                                                 {"allocation", balance.received}}));
        }
        Publish(balance.user_id, "credits.balance",
                BalanceEvent(balance.available, balance.held, balance.posted));
    }
}

}  // namespace beta500::live
