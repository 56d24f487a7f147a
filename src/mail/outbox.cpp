#include "mail/outbox.h"

#include <spdlog/spdlog.h>

#include "core/log.h"

namespace beta500::mail {

DeliveryWorker::DeliveryWorker(Config::Mail config, std::unique_ptr<Transport> transport,
                               store::Database& database, const Clock& clock,
                               obs::Registry& metrics)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      database_(database),
      clock_(clock),
      sent_(metrics.GetCounter("beta500_mail_delivered_total", "Mails delivered.")),
      failed_(metrics.GetCounter("beta500_mail_attempts_failed_total", "Failed delivery attempts.")),
      dead_(metrics.GetCounter("beta500_mail_dead_letters_total", "Mails given up after max_attempts.")),
      thread_([this] { Run(); }) {}

DeliveryWorker::~DeliveryWorker() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void DeliveryWorker::Poke() {
    {
        std::lock_guard lock(mutex_);
        poked_ = true;
    }
    wake_.notify_one();
}

void DeliveryWorker::Run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, std::chrono::milliseconds(config_.poll_interval_ms),
                       [this] { return stopping_ || poked_; });
        if (stopping_) {
            return;
        }
        poked_ = false;
        lock.unlock();
        DeliverDue();
        lock.lock();
    }
}

void DeliveryWorker::DeliverDue() {
    auto due = database_.DueMail(clock_.NowMs(), config_.batch_max);
    if (!due) {
        spdlog::warn("msg=\"mail outbox unreadable\" error={}", LogQuote(due.error().message));
        return;
    }
    for (const store::OutboxMail& entry : *due) {
        if (stopping_) {
            return;  // the rest are due again when their claim runs out (Database::DueMail)
        }
        const Status delivered = transport_->Send(
            Mail{entry.to, entry.template_name, entry.subject, entry.text_body, entry.html_body});
        const int64_t now_ms = clock_.NowMs();
        Status recorded = Status::Ok();
        if (delivered) {
            sent_.Inc();
            recorded = database_.MarkMailSent(entry.id, now_ms);
            spdlog::info("msg=\"mail delivered\" mail_id={} template={} attempts={}", entry.id,
                         entry.template_name, entry.attempts + 1);
        } else {
            failed_.Inc();
            const int64_t attempts = entry.attempts + 1;
            const bool dead = attempts >= config_.max_attempts;
            if (dead) {
                dead_.Inc();
            }
            const int64_t next_ms =
                now_ms + 1000 * BackoffSeconds(attempts, config_.backoff_base_seconds,
                                                config_.backoff_max_seconds);
            recorded = database_.MarkMailFailed(entry.id, attempts, next_ms, dead,
                                                delivered.error().message);
            spdlog::warn("msg=\"mail delivery failed\" mail_id={} attempts={} dead={} error={}",
                         entry.id, attempts, dead, LogQuote(delivered.error().message));
        }
        if (!recorded) {
            spdlog::error("msg=\"mail outbox update failed\" mail_id={} error={}", entry.id,
                          LogQuote(recorded.error().message));
        }
    }
}

}  // namespace beta500::mail
