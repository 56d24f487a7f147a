// DeliveryWorker: sends the mail outbox. A thread wakes every poll interval (or when poked),
// takes up to batch_max due mails, delivers each through the transport, and records the result:
// sent (bodies erased), or failed with the next attempt after an exponential backoff, or dead
// after max_attempts (visible to admins, who may retry it).
// Thread-safe: Poke may be called from any thread. One worker per data directory (the server
// holds the data directory's lock).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "mail/mail.h"
#include "obs/metrics.h"
#include "store/database.h"

namespace beta500::mail {

class DeliveryWorker {
   public:
    // Borrows `database`, `clock` and `metrics`; they must outlive the worker.
    DeliveryWorker(Config::Mail config, std::unique_ptr<Transport> transport,
                   store::Database& database, const Clock& clock, obs::Registry& metrics);
    ~DeliveryWorker();  // finishes the mail in hand, then stops
    DeliveryWorker(const DeliveryWorker&) = delete;
    DeliveryWorker& operator=(const DeliveryWorker&) = delete;

    // Looks for due mail now rather than at the next poll.
    void Poke();

   private:
    void Run();
    void DeliverDue();

    const Config::Mail config_;
    std::unique_ptr<Transport> transport_;
    store::Database& database_;
    const Clock& clock_;
    obs::Counter& sent_;
    obs::Counter& failed_;
    obs::Counter& dead_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<bool> stopping_{false};  // written under mutex_, read without it between mails
    bool poked_ = false;     // GUARDED_BY(mutex_)
    std::thread thread_;
};

}  // namespace beta500::mail
