#include "live/events.h"

#include <boost/json.hpp>

namespace beta500::live {

int64_t EventBus::Subscribe(int64_t user_id, Listener listener) {
    std::lock_guard lock(mutex_);
    const int64_t id = next_id_++;
    listeners_[user_id].emplace_back(id, std::make_shared<Listener>(std::move(listener)));
    ++count_;
    return id;
}

void EventBus::Unsubscribe(int64_t user_id, int64_t id) {
    std::lock_guard lock(mutex_);
    auto found = listeners_.find(user_id);
    if (found == listeners_.end()) {
        return;
    }
    auto& list = found->second;
    const auto before = list.size();
    std::erase_if(list, [id](const auto& entry) { return entry.first == id; });
    count_ -= static_cast<int64_t>(before - list.size());
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

void EventBus::OnCommit(const std::vector<ledger::WalletBalance>& balances) {
    namespace json = boost::json;
    for (const auto& balance : balances) {
        for (int threshold : warnings_.Update(balance.user_id, balance.available, balance.received)) {
            Publish(balance.user_id, "credits.warning",
                    json::serialize(json::object{{"type", "credits.warning"},
                                                 {"threshold_percent", threshold},
                                                 {"available", balance.available},
                                                 {"allocation", balance.received}}));
        }
        Publish(balance.user_id, "credits.balance",
                json::serialize(json::object{{"type", "credits.balance"},
                                             {"available", balance.available},
                                             {"held", balance.held},
                                             {"posted", balance.posted}}));
    }
}

int64_t EventBus::subscribers() const {
    std::lock_guard lock(mutex_);
    return count_;
}

}  // namespace beta500::live
