#include "ledger/engine.h"

#include <boost/json.hpp>

#include <algorithm>

#include "core/assert.h"
#include "core/clock.h"

namespace beta500::ledger {
namespace json = boost::json;

namespace {

Outcome Reject(Rejection rejection, std::string_view detail) {
    return {rejection, RejectionBody(rejection, detail)};
}

Outcome Insufficient(const Account& wallet, int64_t requested) {
    json::object body = json::parse(RejectionBody(Rejection::kInsufficientCredits,
                                                  "the wallet does not hold enough credits"))
                            .as_object();
    body["available"] = wallet.available();
    body["requested"] = requested;
    return {Rejection::kInsufficientCredits, json::serialize(body)};
}

json::object BalanceJson(const Account& wallet) {
    return {{"available", wallet.available()},
            {"held", wallet.debits_pending},
            {"posted", wallet.posted()}};
}

json::object HoldJson(const Hold& hold) {
    return {{"id", std::to_string(hold.id)},
            {"amount", hold.amount},
            {"captured", hold.captured},
            {"released", hold.released},
            {"remaining", hold.remaining()},
            {"status", HoldStatusName(hold.status)},
            {"feature", hold.feature},
            {"expires_at", FormatRfc3339(hold.expires_at_ms)}};
}

Rejection CheckAmount(int64_t amount, const Limits& limits) {
    if (amount <= 0) {
        return Rejection::kInvalidAmount;
    }
    return amount > limits.amount_max ? Rejection::kAmountTooLarge : Rejection::kNone;
}

Rejection CheckText(std::string_view text, size_t bytes_max, Rejection rejection) {
    if (text.size() > bytes_max) {
        return rejection;
    }
    for (unsigned char ch : text) {
        if (ch < 0x20 || ch == 0x7F) {
            return rejection;
        }
    }
    return Rejection::kNone;
}

Rejection CheckReason(std::string_view reason) {
    if (reason.empty()) {
        return Rejection::kReasonRequired;
    }
    return CheckText(reason, kReasonBytesMax, Rejection::kInvalidReason);
}

}  // namespace

bool ValidFeature(std::string_view feature) {
    if (feature.empty() || feature.size() > kFeatureBytesMax) {
        return false;
    }
    return std::all_of(feature.begin(), feature.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
}

bool ValidIdempotencyKey(std::string_view key) {
    if (key.empty() || key.size() > kIdempotencyKeyBytesMax) {
        return false;
    }
    return std::all_of(key.begin(), key.end(), [](char ch) { return ch > 0x20 && ch < 0x7F; });
}

std::string RejectionBody(Rejection rejection, std::string_view detail) {
    return json::serialize(json::object{{"code", RejectionName(rejection)},
                                        {"rejection", static_cast<int>(rejection)},
                                        {"detail", detail}});
}

Requirements RequirementsOf(const Operation& operation) {
    Requirements needs;
    std::visit(
        [&](const auto& op) {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, Grant>) {
                needs.user_id = op.user_id;
                needs.system_accounts = {std::string(kGrantsAccount)};
            } else if constexpr (std::is_same_v<T, Deduct> || std::is_same_v<T, Authorize>) {
                needs.user_id = op.user_id;
                needs.system_accounts = {UsageAccountName(op.feature)};
            } else if constexpr (std::is_same_v<T, Adjust>) {
                needs.user_id = op.user_id;
                needs.system_accounts = {std::string(kAdjustmentsAccount)};
            } else if constexpr (std::is_same_v<T, ExpireDue> || std::is_same_v<T, Enroll>) {
                // The writer loads these itself (due wallets; the enrolled user's new wallet).
                needs.system_accounts = {std::string(kGrantsAccount)};
            } else {
                needs.hold_id = op.hold_id;
            }
        },
        operation);
    // Lazy expiry may move credits to system:expired in any wallet operation.
    needs.system_accounts.emplace_back(kExpiredAccount);
    return needs;
}

Rejection Validate(const Operation& operation, const Limits& limits, int64_t now_ms) {
    return std::visit(
        [&](const auto& op) -> Rejection {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, Grant>) {
                if (auto r = CheckAmount(op.amount, limits); r != Rejection::kNone) {
                    return r;
                }
                if (op.expires_at_ms && *op.expires_at_ms <= now_ms) {
                    return Rejection::kInvalidExpiry;
                }
                return CheckReason(op.reason);
            } else if constexpr (std::is_same_v<T, Deduct>) {
                if (auto r = CheckAmount(op.amount, limits); r != Rejection::kNone) {
                    return r;
                }
                if (!ValidFeature(op.feature)) {
                    return Rejection::kInvalidFeature;
                }
                return CheckText(op.reference, kReferenceBytesMax, Rejection::kInvalidReference);
            } else if constexpr (std::is_same_v<T, Authorize>) {
                if (auto r = CheckAmount(op.amount, limits); r != Rejection::kNone) {
                    return r;
                }
                if (op.ttl_seconds <= 0 || op.ttl_seconds > limits.hold_ttl_seconds_max) {
                    return Rejection::kInvalidTtl;
                }
                if (!ValidFeature(op.feature)) {
                    return Rejection::kInvalidFeature;
                }
                return CheckText(op.reference, kReferenceBytesMax, Rejection::kInvalidReference);
            } else if constexpr (std::is_same_v<T, Increment>) {
                return CheckAmount(op.amount, limits);
            } else if constexpr (std::is_same_v<T, Capture>) {
                // Zero is allowed for a final capture: it releases the whole hold as unused.
                if (op.amount < 0 || (op.amount == 0 && !op.final)) {
                    return Rejection::kInvalidAmount;
                }
                return op.amount > limits.amount_max ? Rejection::kAmountTooLarge
                                                     : Rejection::kNone;
            } else if constexpr (std::is_same_v<T, Adjust>) {
                if (op.amount == 0) {
                    return Rejection::kInvalidAmount;
                }
                if (op.amount > limits.amount_max || op.amount < -limits.amount_max) {
                    return Rejection::kAmountTooLarge;
                }
                return CheckReason(op.reason);
            } else if constexpr (std::is_same_v<T, ExpireDue>) {
                return op.limit > 0 ? Rejection::kNone : Rejection::kInvalidAmount;
            } else if constexpr (std::is_same_v<T, Meter>) {
                if (op.total < 0 || op.reserve < 0 || op.total > limits.balance_max) {
                    return Rejection::kInvalidAmount;
                }
                if (op.reserve > limits.amount_max) {
                    return Rejection::kAmountTooLarge;
                }
                if (!op.final && (op.ttl_seconds <= 0 || op.ttl_seconds > limits.hold_ttl_seconds_max)) {
                    return Rejection::kInvalidTtl;
                }
                return Rejection::kNone;
            } else {
                return Rejection::kNone;
            }
        },
        operation);
}

Outcome Engine::Apply(const Operation& operation, const Context& context) {
    if (Rejection r = Validate(operation, limits_, context.now_ms); r != Rejection::kNone) {
        return Reject(r, "the request is not valid");
    }
    return std::visit(
        [&](const auto& op) -> Outcome {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, Grant>) {
                return ApplyGrant(op, context);
            } else if constexpr (std::is_same_v<T, Deduct>) {
                return ApplyDeduct(op, context);
            } else if constexpr (std::is_same_v<T, Authorize>) {
                return ApplyAuthorize(op, context);
            } else if constexpr (std::is_same_v<T, Increment>) {
                return ApplyIncrement(op, context);
            } else if constexpr (std::is_same_v<T, Capture>) {
                return ApplyCapture(op, context);
            } else if constexpr (std::is_same_v<T, Release>) {
                return ApplyRelease(op, context);
            } else if constexpr (std::is_same_v<T, Adjust>) {
                return ApplyAdjust(op, context);
            } else if constexpr (std::is_same_v<T, Meter>) {
                return ApplyMeter(op, context);
            } else {
                B5_ASSERT(false, "ExpireDue and Enroll are driven by the writer, not Apply");
            }
        },
        operation);
}

Account& Engine::System(std::string_view name) {
    Account* account = state_.FindSystemAccount(name);
    B5_ASSERT(account != nullptr, "system account not loaded");
    return *account;
}

Transfer& Engine::Post(Account& debit, Account& credit, int64_t amount, TransferKind kind,
                       const Context& context) {
    B5_ASSERT(amount > 0, "a transfer moves a positive amount");
    B5_ASSERT(debit.id != credit.id, "a transfer moves between two accounts");
    switch (kind) {
        case TransferKind::kHold:
            debit.debits_pending += amount;
            credit.credits_pending += amount;
            break;
        case TransferKind::kRelease:
            debit.debits_pending -= amount;
            credit.credits_pending -= amount;
            break;
        case TransferKind::kCapture:
            debit.debits_pending -= amount;
            credit.credits_pending -= amount;
            debit.debits_posted += amount;
            credit.credits_posted += amount;
            break;
        default:
            debit.debits_posted += amount;
            credit.credits_posted += amount;
    }
    B5_ASSERT(debit.debits_pending >= 0 && credit.credits_pending >= 0, "pending went negative");
    batch_.dirty_accounts.insert(debit.id);
    batch_.dirty_accounts.insert(credit.id);
    Transfer& transfer = batch_.transfers.emplace_back();
    transfer.id = state_.TakeTransferId();
    transfer.debit_account_id = debit.id;
    transfer.credit_account_id = credit.id;
    transfer.amount = amount;
    transfer.kind = kind;
    transfer.actor = context.actor;
    transfer.idempotency_key = context.idempotency_key;
    transfer.created_at_ms = context.now_ms;
    return transfer;
}

void Engine::Burn(Account& wallet, int64_t amount) {
    int64_t left = amount;
    for (Lot& lot : state_.MutableLotsOf(wallet.id)) {
        if (left == 0) {
            break;
        }
        const int64_t take = std::min(left, lot.remaining);
        if (take > 0) {
            state_.TakeFromLot(lot, take);
            batch_.lot_remaining[lot.id] = lot.remaining;
            if (lot.remaining == 0) {
                batch_.prunable_accounts.insert(wallet.id);
            }
            left -= take;
        }
    }
    B5_ASSERT(left == 0, "lots do not cover the wallet's posted balance");
}

void Engine::CheckWallet(const Account& wallet) {
    B5_ASSERT(wallet.available() >= 0, "a wallet's available balance went negative");
    B5_ASSERT(state_.LotsTotal(wallet.id) == wallet.posted(),
              "lot remainders differ from the posted balance");
}

bool Engine::ExpireHoldIfDue(Hold& hold, const Context& context) {
    if (hold.status != HoldStatus::kOpen || hold.expires_at_ms > context.now_ms) {
        return false;
    }
    Account* wallet = state_.FindAccount(hold.account_id);
    B5_ASSERT(wallet != nullptr, "hold's wallet not loaded");
    // Expiry is the system's act, not the caller's: it carries no idempotency key.
    if (Transfer* release = ResolveHold(hold, *wallet, HoldStatus::kExpired, {"system", "", context.now_ms})) {
        release->reason = "hold expired";
    }
    return true;
}

Transfer* Engine::ResolveHold(Hold& hold, Account& wallet, HoldStatus status, const Context& context) {
    Transfer* release = nullptr;
    const int64_t left = hold.remaining();
    if (left > 0) {
        release = &Post(wallet, System(UsageAccountName(hold.feature)), left, TransferKind::kRelease,
                        context);
        release->hold_id = hold.id;
        release->feature = hold.feature;
        hold.released += left;
    }
    hold.status = status;
    batch_.dirty_holds.insert(hold.id);
    batch_.prunable_accounts.insert(hold.account_id);
    return release;
}

std::optional<Outcome> Engine::FindOpenHold(int64_t hold_id, const Context& context, Hold*& hold) {
    hold = state_.FindHold(hold_id);
    if (hold == nullptr) {
        return Reject(Rejection::kHoldNotFound, "no such hold");
    }
    ExpireDue(*state_.FindAccount(hold->account_id), context);
    if (hold->status == HoldStatus::kOpen) {
        return std::nullopt;
    }
    if (hold->status == HoldStatus::kExpired) {
        return Reject(Rejection::kHoldExpired, "the hold has expired and was released");
    }
    json::object body =
        json::parse(RejectionBody(Rejection::kHoldAlreadyResolved, "the hold is already resolved"))
            .as_object();
    body["hold_status"] = HoldStatusName(hold->status);
    return Outcome{Rejection::kHoldAlreadyResolved, json::serialize(body)};
}

Outcome Engine::HoldAnswer(json::object body, const Hold& hold, const Account& wallet) {
    CheckWallet(wallet);
    body["hold"] = HoldJson(hold);
    body["balance"] = BalanceJson(wallet);
    return {Rejection::kNone, json::serialize(body)};
}

void Engine::ExpireDue(Account& wallet, const Context& context) {
    if (state_.NextHoldExpiry(wallet.id) <= context.now_ms) {
        int64_t next = INT64_MAX;
        for (int64_t hold_id : state_.OpenHoldsOf(wallet.id)) {
            Hold* hold = state_.FindHold(hold_id);
            B5_ASSERT(hold != nullptr, "open hold not loaded");
            if (!ExpireHoldIfDue(*hold, context) && hold->status == HoldStatus::kOpen) {
                next = std::min(next, hold->expires_at_ms);
            }
        }
        state_.SetNextHoldExpiry(wallet.id, next);
    }
    for (Lot& lot : state_.MutableLotsOf(wallet.id)) {
        if (lot.expires_at_ms > context.now_ms) {
            break;  // burn-down order: the rest expire later
        }
        // Credits reserved by open holds stay until the holds resolve.
        const int64_t amount = std::min(lot.remaining, wallet.available());
        if (amount <= 0) {
            continue;
        }
        Transfer& transfer = Post(wallet, System(kExpiredAccount), amount, TransferKind::kExpire,
                                  {"system", "", context.now_ms});
        transfer.lot_id = lot.id;
        transfer.reason = "grant expired";
        state_.TakeFromLot(lot, amount);
        batch_.lot_remaining[lot.id] = lot.remaining;
        if (lot.remaining == 0) {
            batch_.prunable_accounts.insert(wallet.id);
        }
    }
}

Outcome Engine::ApplyGrant(const Grant& op, const Context& context) {
    Account* wallet = state_.FindWallet(op.user_id);
    if (wallet == nullptr) {
        return Reject(Rejection::kUserNotFound, "no wallet for this user");
    }
    ExpireDue(*wallet, context);
    if (wallet->posted() > limits_.balance_max - op.amount) {
        return Reject(Rejection::kBalanceLimitExceeded, "the wallet would exceed its balance limit");
    }
    Transfer& transfer = Post(System(kGrantsAccount), *wallet, op.amount, TransferKind::kGrant, context);
    Lot lot{state_.TakeLotId(), wallet->id, op.amount, op.amount,
            op.expires_at_ms.value_or(kNeverExpires), context.now_ms};
    transfer.lot_id = lot.id;
    transfer.reason = op.reason;
    state_.AddLot(lot);
    batch_.new_lots.push_back(lot);
    CheckWallet(*wallet);
    json::object body{{"transfer_id", std::to_string(transfer.id)},
                      {"lot_id", std::to_string(lot.id)},
                      {"user_id", std::to_string(op.user_id)},
                      {"amount", op.amount},
                      {"balance", BalanceJson(*wallet)}};
    if (op.expires_at_ms) {
        body["expires_at"] = FormatRfc3339(*op.expires_at_ms);
    }
    return {Rejection::kNone, json::serialize(body)};
}

Outcome Engine::ApplyDeduct(const Deduct& op, const Context& context) {
    Account* wallet = state_.FindWallet(op.user_id);
    if (wallet == nullptr) {
        return Reject(Rejection::kUserNotFound, "no wallet for this user");
    }
    ExpireDue(*wallet, context);
    if (wallet->available() < op.amount) {
        return Insufficient(*wallet, op.amount);
    }
    Transfer& transfer =
        Post(*wallet, System(UsageAccountName(op.feature)), op.amount, TransferKind::kUsage, context);
    transfer.feature = op.feature;
    transfer.reference = op.reference;
    Burn(*wallet, op.amount);
    CheckWallet(*wallet);
    return {Rejection::kNone, json::serialize(json::object{
                                  {"transfer_id", std::to_string(transfer.id)},
                                  {"user_id", std::to_string(op.user_id)},
                                  {"amount", op.amount},
                                  {"feature", op.feature},
                                  {"balance", BalanceJson(*wallet)}})};
}

Outcome Engine::ApplyAuthorize(const Authorize& op, const Context& context) {
    Account* wallet = state_.FindWallet(op.user_id);
    if (wallet == nullptr) {
        return Reject(Rejection::kUserNotFound, "no wallet for this user");
    }
    ExpireDue(*wallet, context);
    if (wallet->available() < op.amount) {
        return Insufficient(*wallet, op.amount);
    }
    Hold hold;
    hold.id = state_.TakeHoldId();
    hold.account_id = wallet->id;
    hold.feature = op.feature;
    hold.amount = op.amount;
    hold.expires_at_ms = context.now_ms + op.ttl_seconds * 1000;
    hold.created_at_ms = context.now_ms;
    Transfer& transfer =
        Post(*wallet, System(UsageAccountName(op.feature)), op.amount, TransferKind::kHold, context);
    transfer.hold_id = hold.id;
    transfer.feature = op.feature;
    transfer.reference = op.reference;
    batch_.new_holds.push_back(hold);
    state_.AddHold(hold);
    return HoldAnswer({{"transfer_id", std::to_string(transfer.id)}, {"user_id", std::to_string(op.user_id)}},
                      hold, *wallet);
}


Outcome Engine::ApplyIncrement(const Increment& op, const Context& context) {
    Hold* hold = nullptr;
    if (auto refused = FindOpenHold(op.hold_id, context, hold)) {
        return *refused;
    }
    Account& wallet = *state_.FindAccount(hold->account_id);
    if (wallet.available() < op.amount) {
        return Insufficient(wallet, op.amount);
    }
    Transfer& transfer = Reserve(*hold, wallet, op.amount, context);
    return HoldAnswer({{"transfer_id", std::to_string(transfer.id)}}, *hold, wallet);
}

Transfer& Engine::Reserve(Hold& hold, Account& wallet, int64_t amount, const Context& context) {
    Transfer& transfer =
        Post(wallet, System(UsageAccountName(hold.feature)), amount, TransferKind::kHold, context);
    transfer.hold_id = hold.id;
    transfer.feature = hold.feature;
    hold.amount += amount;
    batch_.dirty_holds.insert(hold.id);
    return transfer;
}

Outcome Engine::ApplyCapture(const Capture& op, const Context& context) {
    Hold* hold = nullptr;
    if (auto refused = FindOpenHold(op.hold_id, context, hold)) {
        return *refused;
    }
    Account& wallet = *state_.FindAccount(hold->account_id);
    if (op.amount > hold->remaining()) {
        json::object body = json::parse(RejectionBody(Rejection::kCaptureExceedsHold,
                                                      "the amount exceeds what the hold has left"))
                                .as_object();
        body["remaining"] = hold->remaining();
        return {Rejection::kCaptureExceedsHold, json::serialize(body)};
    }
    json::object body;
    if (op.amount > 0) {
        Transfer& transfer = Post(wallet, System(UsageAccountName(hold->feature)), op.amount,
                                  TransferKind::kCapture, context);
        transfer.hold_id = hold->id;
        transfer.feature = hold->feature;
        hold->captured += op.amount;
        Burn(wallet, op.amount);
        batch_.dirty_holds.insert(hold->id);
        body["transfer_id"] = std::to_string(transfer.id);
    }
    if (op.final) {
        if (Transfer* release = ResolveHold(*hold, wallet, HoldStatus::kCaptured, context)) {
            body["release_transfer_id"] = std::to_string(release->id);
        }
    }
    return HoldAnswer(std::move(body), *hold, wallet);
}

Outcome Engine::ApplyRelease(const Release& op, const Context& context) {
    Hold* hold = nullptr;
    if (auto refused = FindOpenHold(op.hold_id, context, hold)) {
        return *refused;
    }
    Account& wallet = *state_.FindAccount(hold->account_id);
    json::object body;
    if (Transfer* release = ResolveHold(*hold, wallet, HoldStatus::kReleased, context)) {
        body["transfer_id"] = std::to_string(release->id);
    }
    return HoldAnswer(std::move(body), *hold, wallet);
}

Outcome Engine::ApplyAdjust(const Adjust& op, const Context& context) {
    Account* wallet = state_.FindWallet(op.user_id);
    if (wallet == nullptr) {
        return Reject(Rejection::kUserNotFound, "no wallet for this user");
    }
    ExpireDue(*wallet, context);
    Account& adjustments = System(kAdjustmentsAccount);
    Transfer* transfer = nullptr;
    if (op.amount > 0) {
        if (wallet->posted() > limits_.balance_max - op.amount) {
            return Reject(Rejection::kBalanceLimitExceeded,
                          "the wallet would exceed its balance limit");
        }
        transfer = &Post(adjustments, *wallet, op.amount, TransferKind::kAdjust, context);
        Lot lot{state_.TakeLotId(), wallet->id, op.amount, op.amount, kNeverExpires,
                context.now_ms};
        transfer->lot_id = lot.id;
        state_.AddLot(lot);
        batch_.new_lots.push_back(lot);
    } else {
        if (wallet->available() < -op.amount) {
            return Insufficient(*wallet, -op.amount);
        }
        transfer = &Post(*wallet, adjustments, -op.amount, TransferKind::kAdjust, context);
        Burn(*wallet, -op.amount);
    }
    transfer->reason = op.reason;
    CheckWallet(*wallet);
    return {Rejection::kNone, json::serialize(json::object{
                                  {"transfer_id", std::to_string(transfer->id)},
                                  {"user_id", std::to_string(op.user_id)},
                                  {"amount", op.amount},
                                  {"balance", BalanceJson(*wallet)}})};
}

Outcome Engine::ApplyMeter(const Meter& op, const Context& context) {
    Hold* hold = nullptr;
    if (auto refused = FindOpenHold(op.hold_id, context, hold)) {
        return *refused;
    }
    Account& wallet = *state_.FindAccount(hold->account_id);
    const int64_t due = std::max<int64_t>(0, op.total - hold->captured);
    if (due > hold->remaining()) {
        const int64_t top_up = std::min(due - hold->remaining(), wallet.available());
        if (top_up > 0) {
            Reserve(*hold, wallet, top_up, context);
        }
    }
    const int64_t charge = std::min(due, hold->remaining());
    json::object body{{"charged", charge}};
    if (charge > 0) {
        Transfer& transfer = Post(wallet, System(UsageAccountName(hold->feature)), charge,
                                  TransferKind::kCapture, context);
        transfer.hold_id = hold->id;
        transfer.feature = hold->feature;
        hold->captured += charge;
        Burn(wallet, charge);
        batch_.dirty_holds.insert(hold->id);
        body["transfer_id"] = std::to_string(transfer.id);
    }
    bool exhausted = charge < due;
    if (!op.final && !exhausted) {
        if (op.reserve > hold->remaining()) {
            const int64_t more = std::min(op.reserve - hold->remaining(), wallet.available());
            if (more > 0) {
                Reserve(*hold, wallet, more, context);
            }
        }
        // Nothing left to run the next interval on: the session ends now, not one interval later.
        exhausted = op.reserve > 0 && hold->remaining() == 0;
        hold->expires_at_ms = context.now_ms + op.ttl_seconds * 1000;
        batch_.dirty_holds.insert(hold->id);
    }
    if (op.final || exhausted) {
        ResolveHold(*hold, wallet, HoldStatus::kCaptured, context);
    }
    body["exhausted"] = exhausted;
    return HoldAnswer(std::move(body), *hold, wallet);
}

}  // namespace beta500::ledger
