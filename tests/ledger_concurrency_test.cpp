// Proves the ledger under concurrency on a real SQLite database and on a real PostgreSQL 15 (the
// private cluster of ctest's `postgres` fixture), the same way on both: 32 client threads x 10,000 (4,000 on PostgreSQL)
// mixed operations (grants, deductions, holds with increments, partial and final captures,
// releases, adjustments), with replays of earlier keys and keys raced by every thread at once.
// Afterwards the audit passes (sum of balances zero, no negative wallet, journal equals account
// totals, holds consistent), every key has exactly one effect, and every replay matched.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "ledger/writer.h"
#include "store/testing.h"

namespace beta500 {
namespace {

constexpr int kThreads = 32;
// Per thread: PostgreSQL's round trips make its run about four times as long per operation.
int OperationsPerThread(const std::string& backend) { return backend == "sqlite" ? 10'000 : 4'000; }
constexpr int kUsers = 16;
// One operation in this many is raced: every thread sends the same request under a shared key.
constexpr int kRaceEvery = 50;

struct Outcome {
    ledger::Rejection rejection;
    std::string body;
    bool replayed;
};

class LedgerConcurrency : public ::testing::TestWithParam<std::string> {};

TEST_P(LedgerConcurrency, MixedOperationsKeepEveryInvariant) {
    const int kOperationsPerThread = OperationsPerThread(GetParam());
    SystemClock clock;
    auto database = store::TestBackend::Make(GetParam(), clock);
    std::vector<int64_t> users;
    for (int i = 0; i < kUsers; ++i) {
        users.push_back(database->CreateUser("user" + std::to_string(i) + "@example.com"));
    }
    ledger::WriterOptions options;
    options.queue_max = kThreads * 4;
    auto writer = std::move(*ledger::Writer::Start(database->NewLedgerStore(), options, clock, nullptr));

    std::mutex mutex;
    // (actor, key) -> first answer that was not a replay; and every answer seen.
    std::map<std::pair<std::string, std::string>, std::vector<Outcome>> answers;
    auto record = [&](const std::string& actor, const std::string& key, const ledger::Response& r) {
        std::lock_guard lock(mutex);
        answers[{actor, key}].push_back({r.rejection, r.body, r.replayed});
    };

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 random(static_cast<uint64_t>(t) * 7919 + 1);
            const std::string actor = "token:" + std::to_string(t);
            std::vector<ledger::Request> sent;
            std::vector<int64_t> open_holds;
            auto call = [&](ledger::Request request) {
                auto response = writer->Call(request);
                while (response.rejection == ledger::Rejection::kOverloaded) {
                    std::this_thread::yield();
                    response = writer->Call(request);
                }
                record(request.actor, request.idempotency_key, response);
                return response;
            };
            for (int i = 0; i < kOperationsPerThread; ++i) {
                if (i % kRaceEvery == 0) {
                    const int64_t user = users[static_cast<size_t>(i / kRaceEvery) % users.size()];
                    call({ledger::Grant{user, 7, {}, "raced"}, "token:shared", "race-" + std::to_string(i)});
                    continue;
                }
                const auto roll = random() % 100;
                if (roll < 10 && !sent.empty()) {
                    call(sent[random() % sent.size()]);  // a retry of an earlier request
                    continue;
                }
                const int64_t user = users[random() % users.size()];
                const int64_t amount = static_cast<int64_t>(random() % 20) + 1;
                ledger::Operation operation;
                if (roll < 15) {
                    operation = ledger::Grant{user, amount * 5, {}, "top-up"};
                } else if (roll < 55) {
                    operation = ledger::Deduct{user, amount, "ai_search", ""};
                } else if (roll < 65) {
                    operation = ledger::Authorize{user, amount, 3600, "live_dubbing", ""};
                } else if (roll < 90 && !open_holds.empty()) {
                    const size_t index = random() % open_holds.size();
                    const int64_t hold = open_holds[index];
                    const auto kind = random() % 4;
                    if (kind == 0) {
                        operation = ledger::Increment{hold, amount};
                    } else if (kind == 1) {
                        operation = ledger::Capture{hold, amount / 2 + 1, false};
                    } else if (kind == 2) {
                        operation = ledger::Capture{hold, amount / 3, true};
                        open_holds.erase(open_holds.begin() + static_cast<std::ptrdiff_t>(index));
                    } else {
                        operation = ledger::Release{hold};
                        open_holds.erase(open_holds.begin() + static_cast<std::ptrdiff_t>(index));
                    }
                } else {
                    operation = ledger::Adjust{user, (random() % 2 ? 1 : -1) * amount, "correction"};
                }
                ledger::Request request{operation, actor, "k" + std::to_string(i)};
                const auto response = call(request);
                sent.push_back(request);
                if (response.rejection == ledger::Rejection::kNone &&
                    std::holds_alternative<ledger::Authorize>(operation)) {
                    const auto body = boost::json::parse(response.body);
                    open_holds.push_back(
                        std::stoll(std::string(body.at("hold").at("id").as_string())));
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    writer->Stop();

    auto input = database->LoadAudit(options.idempotency_ttl_ms);
    ASSERT_TRUE(input);
    const auto report = ledger::Audit(*input);
    for (const auto& problem : report.problems) {
        ADD_FAILURE() << problem;
    }
    EXPECT_EQ(input->keys_with_several_effects, 0);
    EXPECT_EQ(input->keyed_transfers_without_record, 0);

    // Each key: exactly one original answer; every other answer is a replay of it.
    int64_t successes = 0;
    int64_t replays = 0;
    for (const auto& [key, outcomes] : answers) {
        int originals = 0;
        for (const auto& outcome : outcomes) {
            originals += outcome.replayed ? 0 : 1;
            EXPECT_EQ(outcome.body, outcomes.front().body) << key.first << " " << key.second;
            EXPECT_EQ(outcome.rejection, outcomes.front().rejection);
        }
        EXPECT_EQ(originals, 1) << key.first << " " << key.second;
        replays += static_cast<int64_t>(outcomes.size()) - 1;
        successes += outcomes.front().rejection == ledger::Rejection::kNone ? 1 : 0;
    }
    // Raced grants: one effect each, 7 credits.
    EXPECT_EQ(database->GrantedBy("token:shared"), 7 * (kOperationsPerThread / kRaceEvery));
    EXPECT_GT(replays, kThreads * kOperationsPerThread / 20);
    EXPECT_GT(successes, kThreads * kOperationsPerThread / 4);
    std::printf("%s: operations=%d keys=%zu replays=%lld successes=%lld transfers=%lld\n", GetParam().c_str(),
                kThreads * kOperationsPerThread, answers.size(), static_cast<long long>(replays),
                static_cast<long long>(successes), static_cast<long long>(report.transfers));
}

INSTANTIATE_TEST_SUITE_P(Backends, LedgerConcurrency, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace beta500
