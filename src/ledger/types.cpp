#include "ledger/types.h"

#include <array>

#include "core/assert.h"

namespace beta500::ledger {

std::string_view RejectionName(Rejection rejection) {
    switch (rejection) {
        case Rejection::kNone: return "none";
        case Rejection::kInvalidAmount: return "invalid_amount";
        case Rejection::kAmountTooLarge: return "amount_too_large";
        case Rejection::kInvalidTtl: return "invalid_ttl";
        case Rejection::kInvalidFeature: return "invalid_feature";
        case Rejection::kInvalidReference: return "invalid_reference";
        case Rejection::kReasonRequired: return "reason_required";
        case Rejection::kInvalidReason: return "invalid_reason";
        case Rejection::kInvalidExpiry: return "invalid_expiry";
        case Rejection::kInvalidIdempotencyKey: return "invalid_idempotency_key";
        case Rejection::kUserNotFound: return "user_not_found";
        case Rejection::kHoldNotFound: return "hold_not_found";
        case Rejection::kNotInvited: return "not_invited";
        case Rejection::kUserSuspended: return "user_suspended";
        case Rejection::kHoldExpired: return "hold_expired";
        case Rejection::kHoldAlreadyResolved: return "hold_already_resolved";
        case Rejection::kCaptureExceedsHold: return "capture_exceeds_hold";
        case Rejection::kInsufficientCredits: return "insufficient_credits";
        case Rejection::kBalanceLimitExceeded: return "balance_limit_exceeded";
        case Rejection::kIdempotencyKeyReused: return "idempotency_key_reused";
        case Rejection::kOverloaded: return "overloaded";
        case Rejection::kUnavailable: return "unavailable";
    }
    B5_ASSERT(false, "unknown rejection");
}

bool IsTransient(Rejection rejection) {
    return rejection == Rejection::kOverloaded || rejection == Rejection::kUnavailable;
}

namespace {
constexpr std::array<std::string_view, 7> kTransferKindNames = {
    "grant", "usage", "hold", "capture", "release", "expire", "adjust"};
constexpr std::array<std::string_view, 4> kHoldStatusNames = {"open", "captured", "released",
                                                              "expired"};
}  // namespace

std::string_view TransferKindName(TransferKind kind) {
    return kTransferKindNames.at(static_cast<size_t>(kind));
}

std::optional<TransferKind> ParseTransferKind(std::string_view name) {
    for (size_t i = 0; i < kTransferKindNames.size(); ++i) {
        if (kTransferKindNames[i] == name) {
            return static_cast<TransferKind>(i);
        }
    }
    return std::nullopt;
}

std::string_view HoldStatusName(HoldStatus status) {
    return kHoldStatusNames.at(static_cast<size_t>(status));
}

std::optional<HoldStatus> ParseHoldStatus(std::string_view name) {
    for (size_t i = 0; i < kHoldStatusNames.size(); ++i) {
        if (kHoldStatusNames[i] == name) {
            return static_cast<HoldStatus>(i);
        }
    }
    return std::nullopt;
}

std::string UsageAccountName(std::string_view feature) {
    return "system:usage:" + std::string(feature);
}

std::string_view OperationName(const Operation& operation) {
    static constexpr std::array<std::string_view, 10> kNames = {
        "grant",  "deduct", "authorize", "increment", "capture",
        "release", "adjust", "expire",   "enroll",    "meter"};
    return kNames.at(operation.index());
}

namespace {

// Length-prefixed fields, so no two different requests share an encoding.
void Put(std::string& out, std::string_view value) {
    out += std::to_string(value.size());
    out += ':';
    out += value;
}
void Put(std::string& out, int64_t value) { Put(out, std::to_string(value)); }

}  // namespace

std::string CanonicalRequest(const Operation& operation) {
    std::string out;
    Put(out, OperationName(operation));
    std::visit(
        [&](const auto& op) {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, Grant>) {
                Put(out, op.user_id), Put(out, op.amount), Put(out, op.expires_at_ms.value_or(-1));
                Put(out, op.reason);
            } else if constexpr (std::is_same_v<T, Deduct>) {
                Put(out, op.user_id), Put(out, op.amount), Put(out, op.feature);
                Put(out, op.reference);
            } else if constexpr (std::is_same_v<T, Authorize>) {
                Put(out, op.user_id), Put(out, op.amount), Put(out, op.ttl_seconds);
                Put(out, op.feature), Put(out, op.reference);
            } else if constexpr (std::is_same_v<T, Increment>) {
                Put(out, op.hold_id), Put(out, op.amount);
            } else if constexpr (std::is_same_v<T, Capture>) {
                Put(out, op.hold_id), Put(out, op.amount), Put(out, op.final ? 1 : 0);
            } else if constexpr (std::is_same_v<T, Release>) {
                Put(out, op.hold_id);
            } else if constexpr (std::is_same_v<T, Adjust>) {
                Put(out, op.user_id), Put(out, op.amount), Put(out, op.reason);
            } else if constexpr (std::is_same_v<T, Enroll>) {
                Put(out, op.email);
                if (op.identity) {
                    Put(out, op.identity->issuer), Put(out, op.identity->subject);
                }
                Put(out, op.display_name);
            } else if constexpr (std::is_same_v<T, Meter>) {
                Put(out, op.hold_id), Put(out, op.total), Put(out, op.reserve);
                Put(out, op.ttl_seconds), Put(out, op.final ? 1 : 0);
            } else {
                Put(out, op.limit);
            }
        },
        operation);
    return out;
}

}  // namespace beta500::ledger
