#include "ledger/state.h"

#include <algorithm>

#include "core/assert.h"

namespace beta500::ledger {

Account* LedgerState::FindAccount(int64_t account_id) {
    auto found = accounts_.find(account_id);
    return found == accounts_.end() ? nullptr : &found->second;
}

Account* LedgerState::FindWallet(int64_t user_id) {
    auto found = wallet_by_user_.find(user_id);
    return found == wallet_by_user_.end() ? nullptr : FindAccount(found->second);
}

Account* LedgerState::FindSystemAccount(std::string_view name) {
    auto found = system_by_name_.find(std::string(name));
    return found == system_by_name_.end() ? nullptr : FindAccount(found->second);
}

Hold* LedgerState::FindHold(int64_t hold_id) {
    auto found = holds_.find(hold_id);
    return found == holds_.end() ? nullptr : &found->second;
}

void LedgerState::AddAccount(Account account) {
    B5_ASSERT(!accounts_.contains(account.id), "account loaded twice");
    if (account.user_id) {
        wallet_by_user_[*account.user_id] = account.id;
    } else {
        system_by_name_[account.name] = account.id;
    }
    const int64_t id = account.id;
    accounts_.emplace(id, std::move(account));
}

void LedgerState::AddLot(Lot lot) {
    lots_total_[lot.account_id] += lot.remaining;
    auto& lots = lots_[lot.account_id];
    auto before = [](const Lot& a, const Lot& b) {
        return std::tie(a.expires_at_ms, a.created_at_ms, a.id) <
               std::tie(b.expires_at_ms, b.created_at_ms, b.id);
    };
    lots.insert(std::upper_bound(lots.begin(), lots.end(), lot, before), lot);
}

void LedgerState::AddHold(Hold hold) {
    if (hold.status == HoldStatus::kOpen) {
        open_holds_[hold.account_id].push_back(hold.id);
        SetNextHoldExpiry(hold.account_id, std::min(NextHoldExpiry(hold.account_id), hold.expires_at_ms));
    }
    holds_.emplace(hold.id, std::move(hold));
}

void LedgerState::TakeFromLot(Lot& lot, int64_t amount) {
    B5_ASSERT(amount >= 0 && amount <= lot.remaining, "taking more than a lot holds");
    lot.remaining -= amount;
    lots_total_[lot.account_id] -= amount;
}

int64_t LedgerState::LotsTotal(int64_t account_id) const {
    auto found = lots_total_.find(account_id);
    return found == lots_total_.end() ? 0 : found->second;
}

int64_t LedgerState::NextHoldExpiry(int64_t account_id) const {
    auto found = next_hold_expiry_.find(account_id);
    return found == next_hold_expiry_.end() ? INT64_MAX : found->second;
}

void LedgerState::SetNextHoldExpiry(int64_t account_id, int64_t expires_at_ms) {
    next_hold_expiry_[account_id] = expires_at_ms;
}

void LedgerState::PruneAccount(int64_t account_id) {
    if (auto lots = lots_.find(account_id); lots != lots_.end()) {
        std::erase_if(lots->second, [](const Lot& lot) { return lot.remaining == 0; });
    }
    if (auto hold_ids = open_holds_.find(account_id); hold_ids != open_holds_.end()) {
        std::erase_if(hold_ids->second, [&](int64_t id) {
            auto hold = holds_.find(id);
            if (hold->second.status == HoldStatus::kOpen) {
                return false;
            }
            holds_.erase(hold);
            return true;
        });
    }
}

void LedgerState::Clear() {
    accounts_.clear();
    wallet_by_user_.clear();
    system_by_name_.clear();
    lots_.clear();
    holds_.clear();
    open_holds_.clear();
    lots_total_.clear();
    next_hold_expiry_.clear();
}

void LedgerState::SetNextIds(int64_t transfer_id, int64_t lot_id, int64_t hold_id) {
    next_transfer_id_ = transfer_id;
    next_lot_id_ = lot_id;
    next_hold_id_ = hold_id;
}

}  // namespace beta500::ledger
