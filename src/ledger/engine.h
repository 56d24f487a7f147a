// Engine: the ledger's rules as pure functions over LedgerState, recording changes in a Batch.
// No I/O: the writer loads what an operation needs (Requirements) before calling Apply.
// Not thread-safe: used by the ledger writer thread only.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/state.h"
#include "ledger/types.h"

namespace beta500::ledger {

struct Limits {
    int64_t amount_max = 1'000'000'000;
    int64_t hold_ttl_seconds_max = 86400;
    // A wallet's posted balance never exceeds this (keeps every sum far from overflow).
    int64_t balance_max = 1'000'000'000'000;
};

// Text limits (bytes), each bounding a stored column.
inline constexpr size_t kFeatureBytesMax = 64;
inline constexpr size_t kReferenceBytesMax = 255;
inline constexpr size_t kReasonBytesMax = 500;
inline constexpr size_t kIdempotencyKeyBytesMax = 255;

struct Context {
    std::string actor;            // who asked: "token:<id>", "user:<id>" or "system"
    std::string idempotency_key;  // may be empty for maintenance operations
    int64_t now_ms = 0;
};

// What an operation reads; the writer loads these into the state before Apply.
struct Requirements {
    std::optional<int64_t> user_id;  // its wallet, lots and open holds
    std::optional<int64_t> hold_id;  // the hold and its wallet
    std::vector<std::string> system_accounts;
};

struct Outcome {
    Rejection rejection = Rejection::kNone;
    std::string body;  // JSON: the result, or the rejection with its details
};

Requirements RequirementsOf(const Operation& operation);
// Checks the request alone (amounts, lengths, TTLs); kNone when well-formed.
Rejection Validate(const Operation& operation, const Limits& limits, int64_t now_ms);
bool ValidFeature(std::string_view feature);
bool ValidIdempotencyKey(std::string_view key);
// The JSON body of a rejection (also used for rejections decided outside the engine).
std::string RejectionBody(Rejection rejection, std::string_view detail);

class Engine {
   public:
    // The state and batch are borrowed for the engine's lifetime (ownership is not transferred).
    Engine(LedgerState& state, Batch& batch, Limits limits)
        : state_(state), batch_(batch), limits_(limits) {}

    // Applies one operation. A rejected operation changes nothing but lazy expiries (lots and
    // holds already past their time), which are effects of their own.
    Outcome Apply(const Operation& operation, const Context& context);

    // Expires the due lots of a wallet (as far as open holds allow) and its holds past their TTL.
    void ExpireDue(Account& wallet, const Context& context);
    // Expires one hold if it is open and past its TTL; returns whether it did.
    bool ExpireHoldIfDue(Hold& hold, const Context& context);

   private:
    Outcome ApplyGrant(const Grant& op, const Context& context);
    Outcome ApplyDeduct(const Deduct& op, const Context& context);
    Outcome ApplyAuthorize(const Authorize& op, const Context& context);
    Outcome ApplyIncrement(const Increment& op, const Context& context);
    Outcome ApplyCapture(const Capture& op, const Context& context);
    Outcome ApplyRelease(const Release& op, const Context& context);
    Outcome ApplyAdjust(const Adjust& op, const Context& context);
    Outcome ApplyMeter(const Meter& op, const Context& context);
    // Moves `amount` more of the wallet's available credits into the hold.
    Transfer& Reserve(Hold& hold, Account& wallet, int64_t amount, const Context& context);

    // Releases what the hold has left (if anything) and resolves it; returns the release.
    Transfer* ResolveHold(Hold& hold, Account& wallet, HoldStatus status, const Context& context);
    // Sets `hold` to the open hold named, after applying its wallet's due expiries; otherwise
    // returns the rejection (unknown, expired, or already resolved).
    std::optional<Outcome> FindOpenHold(int64_t hold_id, const Context& context, Hold*& hold);
    // The success answer of a hold operation: `body` plus the hold and the wallet's balance.
    Outcome HoldAnswer(boost::json::object body, const Hold& hold, const Account& wallet);
    Transfer& Post(Account& debit, Account& credit, int64_t amount, TransferKind kind,
                   const Context& context);
    void Burn(Account& wallet, int64_t amount);
    Account& System(std::string_view name);
    void CheckWallet(const Account& wallet);

    LedgerState& state_;
    Batch& batch_;
    Limits limits_;
};

}  // namespace beta500::ledger
