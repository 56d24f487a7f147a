// The credit ledger's vocabulary: accounts, transfers, lots, holds, operations and rejections.
// Plain values; not thread-safe by themselves (the writer thread owns the live copies).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace beta500::ledger {

// Why an operation was refused. Ordered, with stable numbers: clients may persist them, so
// a value is never renumbered or reused. The snake_case name is the API problem `code`.
enum class Rejection : uint16_t {
    kNone = 0,
    // The request itself is malformed (checked before any state is read).
    kInvalidAmount = 1,
    kAmountTooLarge = 2,
    kInvalidTtl = 3,
    kInvalidFeature = 4,
    kInvalidReference = 5,
    kReasonRequired = 6,
    kInvalidReason = 7,
    kInvalidExpiry = 8,
    kInvalidIdempotencyKey = 9,
    // The request names something that does not exist.
    kUserNotFound = 20,
    kHoldNotFound = 21,
    kNotInvited = 22,  // enrollment: no open invitation for this email
    kUserSuspended = 23,  // the wallet's owner is suspended: no new spending
    // The request conflicts with the state of a hold.
    kHoldExpired = 30,
    kHoldAlreadyResolved = 31,
    kCaptureExceedsHold = 32,
    // The wallet cannot take the operation.
    kInsufficientCredits = 40,
    kBalanceLimitExceeded = 41,
    // The idempotency key was used before with a different request.
    kIdempotencyKeyReused = 50,
    // Transient: nothing was done; the same request may be retried.
    kOverloaded = 60,
    kUnavailable = 61,
};

std::string_view RejectionName(Rejection rejection);
// Transient rejections are not recorded under the idempotency key.
bool IsTransient(Rejection rejection);

enum class TransferKind : uint8_t { kGrant, kUsage, kHold, kCapture, kRelease, kExpire, kAdjust };
std::string_view TransferKindName(TransferKind kind);
std::optional<TransferKind> ParseTransferKind(std::string_view name);

enum class HoldStatus : uint8_t { kOpen, kCaptured, kReleased, kExpired };
std::string_view HoldStatusName(HoldStatus status);
std::optional<HoldStatus> ParseHoldStatus(std::string_view name);

// Named system accounts. Usage sinks are "system:usage:<feature>".
inline constexpr std::string_view kGrantsAccount = "system:grants";
inline constexpr std::string_view kExpiredAccount = "system:expired";
inline constexpr std::string_view kAdjustmentsAccount = "system:adjustments";
std::string UsageAccountName(std::string_view feature);

// A lot's expiry when it never expires (sorts last in burn-down order).
inline constexpr int64_t kNeverExpires = INT64_MAX;

struct Account {
    int64_t id = 0;
    std::string name;
    // Wallets belong to a user and may never go below zero available; system accounts may.
    std::optional<int64_t> user_id;
    int64_t credits_posted = 0;
    int64_t debits_posted = 0;
    int64_t credits_pending = 0;
    int64_t debits_pending = 0;

    bool is_wallet() const { return user_id.has_value(); }
    int64_t posted() const { return credits_posted - debits_posted; }
    int64_t available() const { return posted() - debits_pending; }
};

struct Transfer {
    int64_t id = 0;
    int64_t debit_account_id = 0;
    int64_t credit_account_id = 0;
    int64_t amount = 0;
    TransferKind kind = TransferKind::kUsage;
    std::optional<int64_t> hold_id;
    std::optional<int64_t> lot_id;
    std::string feature;
    std::string reference;
    std::string actor;
    std::string reason;
    std::string idempotency_key;
    int64_t created_at_ms = 0;
};

// Granted credits in one wallet, burned down earliest expiry first, then oldest.
struct Lot {
    int64_t id = 0;
    int64_t account_id = 0;
    int64_t amount = 0;
    int64_t remaining = 0;
    int64_t expires_at_ms = kNeverExpires;
    int64_t created_at_ms = 0;
};

struct Hold {
    int64_t id = 0;
    int64_t account_id = 0;
    std::string feature;
    int64_t amount = 0;    // total authorized, increments included
    int64_t captured = 0;  // posted so far
    int64_t released = 0;  // voided (release, final capture remainder or expiry)
    HoldStatus status = HoldStatus::kOpen;
    int64_t expires_at_ms = 0;
    int64_t created_at_ms = 0;
    int64_t remaining() const { return amount - captured - released; }
};

// Operations. Amounts are credits; ids are the ledger's own.
struct Grant {
    int64_t user_id = 0;
    int64_t amount = 0;
    std::optional<int64_t> expires_at_ms;
    std::string reason;
};
struct Deduct {
    int64_t user_id = 0;
    int64_t amount = 0;
    std::string feature;
    std::string reference;
};
struct Authorize {
    int64_t user_id = 0;
    int64_t amount = 0;
    int64_t ttl_seconds = 0;
    std::string feature;
    std::string reference;
};
struct Increment {
    int64_t hold_id = 0;
    int64_t amount = 0;
};
struct Capture {
    int64_t hold_id = 0;
    int64_t amount = 0;
    bool final = false;
};
struct Release {
    int64_t hold_id = 0;
};
struct Adjust {
    int64_t user_id = 0;
    int64_t amount = 0;  // signed: positive adds credits, negative removes them
    std::string reason;
};
// Expires due lots and holds in at most `limit` wallets (a maintenance job, no idempotency key).
struct ExpireDue {
    int64_t limit = 0;
};
// Charges a metered hold (a live session) up to a cumulative total: captures what `total`
// exceeds the hold's captured credits, topping the hold up from the wallet when it falls short,
// as far as the wallet allows. Then either keeps `reserve` credits held for the next interval
// with a fresh TTL, or (when final, or when the wallet could not cover the charge or the next
// interval) releases the rest and resolves the hold. Charging to a cumulative total makes a
// repeated call a no-op.
struct Meter {
    int64_t hold_id = 0;
    int64_t total = 0;
    int64_t reserve = 0;
    int64_t ttl_seconds = 0;
    bool final = false;
};
// A provider's name for a person: (issuer, subject) is unique and never reassigned.
struct Identity {
    std::string issuer;
    std::string subject;
};
// Enrolls the person with this (normalized, verified) email: in the batch's one transaction the
// store creates the user and wallet and consumes the open invitation, and the engine posts the
// invitation's grant. An existing user is answered as is, with no second grant. With an
// identity, the user it is linked to is the answer; otherwise it is linked to the user found or
// created by email.
struct Enroll {
    std::string email;
    std::optional<Identity> identity;
    std::string display_name;  // the provider's `name`: set on a new user, or on one without a name
};

using Operation =
    std::variant<Grant, Deduct, Authorize, Increment, Capture, Release, Adjust, ExpireDue, Enroll,
                 Meter>;

std::string_view OperationName(const Operation& operation);
// A canonical encoding of the operation's fields, hashed to detect key reuse with another body.
std::string CanonicalRequest(const Operation& operation);

}  // namespace beta500::ledger
