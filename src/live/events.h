// EventBus: per-user events inside one process (balance changes, low-credit warnings, session
// ends), for the browser's event stream and the user's live sessions. The ledger writer feeds
// it after each commit (OnCommit). Several instances will relay through the database; on SQLite
// there is one process and this bus is all there is.
// Thread-safe; listeners run on the publishing thread and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/writer.h"
#include "live/metering.h"

namespace beta500::live {

// The JSON of a credits.balance event.
std::string BalanceEvent(int64_t available, int64_t held, int64_t posted);

class EventBus {
   public:
    // `name` is the event type (credits.balance, credits.warning, session.ended); `data` its
    // JSON object, which carries the same "type".
    using Listener = std::function<void(std::string_view name, const std::string& data)>;

    // Returns an id for Unsubscribe.
    int64_t Subscribe(int64_t user_id, Listener listener);
    void Unsubscribe(int64_t user_id, int64_t id);
    void Publish(int64_t user_id, std::string_view name, const std::string& data);
    // The writer's commit hook: a credits.balance event per changed wallet, and a
    // credits.warning event per low-credit threshold crossed on the way down.
    void OnCommit(const std::vector<ledger::WalletBalance>& balances);

   private:
    bool Listening(int64_t user_id) const;

    mutable std::mutex mutex_;
    int64_t next_id_ = 1;  // GUARDED_BY(mutex_)
    std::unordered_map<int64_t, std::vector<std::pair<int64_t, std::shared_ptr<Listener>>>>
        listeners_;  // GUARDED_BY(mutex_); by user
    WarningTracker warnings_;
};

}  // namespace beta500::live
