// Recommendations against a synthetic taste model: 1,200 titles in 12 genres by 120 directors;
// 400 people who like a genre (60 %) or a director (40 %) and watch mostly, not only, what they
// like. One liked title per person is held out; hit rate@10 and taste precision@10 of the model
// are compared with a popularity baseline on the same split. Also: scores in 0-100 and ordered,
// nothing already watched, cold start, a title nobody watched yet, and the same input giving the
// same model.
#include "catalog/recommend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace beta500::catalog {
namespace {

constexpr int kGenres = 12;
constexpr int kDirectors = 120;
constexpr int kTitles = 1200;
constexpr int kUsers = 400;

struct Person {
    int64_t id;
    std::optional<int> genre;
    std::optional<int> director;
    std::vector<Watch> history;
    int64_t held_out;
};

struct World {
    std::vector<Title> titles;
    std::vector<Person> people;
    std::vector<Watch> training;

    bool Likes(const Person& person, int64_t title_id) const {
        const Title& title = titles[static_cast<size_t>(title_id - 1)];
        return person.genre ? title.genres.front() == "genre-" + std::to_string(*person.genre)
                            : title.directors.front() == "director-" + std::to_string(*person.director);
    }
};

World MakeWorld() {
    World world;
    std::mt19937 random(7);
    for (int i = 0; i < kTitles; ++i) {
        Title title;
        title.id = i + 1;
        const int director = i % kDirectors;
        title.title = "Title " + std::to_string(i + 1);
        title.genres = {"genre-" + std::to_string(director % kGenres)};
        title.directors = {"director-" + std::to_string(director)};
        title.year = 1970 + (i * 7) % 40;
        title.rating_tenths = 50 + static_cast<int64_t>(random() % 40);
        title.votes = static_cast<int64_t>(100'000 / (1 + random() % 200));
        world.titles.push_back(title);
    }
    // Popular titles are watched more, within a taste as overall.
    auto pick = [&](const std::vector<int64_t>& pool) {
        std::vector<double> weights;
        for (int64_t id : pool) {
            weights.push_back(static_cast<double>(world.titles[static_cast<size_t>(id - 1)].votes));
        }
        std::discrete_distribution<size_t> choose(weights.begin(), weights.end());
        return pool[choose(random)];
    };
    std::vector<int64_t> everything;
    for (const Title& title : world.titles) {
        everything.push_back(title.id);
    }
    for (int u = 0; u < kUsers; ++u) {
        Person person{1000 + u, std::nullopt, std::nullopt, {}, 0};
        if (u % 5 < 3) {
            person.genre = u % kGenres;
        } else {
            person.director = u % kDirectors;
        }
        std::vector<int64_t> liked;
        for (const Title& title : world.titles) {
            if (world.Likes(person, title.id)) {
                liked.push_back(title.id);
            }
        }
        std::set<int64_t> seen;
        const size_t wanted = person.genre ? 12 : 6;
        while (seen.size() < wanted) {
            seen.insert(pick(liked));
        }
        for (int noise = 0; noise < 3; ++noise) {
            seen.insert(pick(everything));
        }
        std::vector<int64_t> liked_seen;
        for (int64_t id : seen) {
            person.history.push_back(Watch{person.id, id, 1 + static_cast<int64_t>(random() % 2), 90, std::nullopt, 0});
            if (world.Likes(person, id)) {
                liked_seen.push_back(id);
            }
        }
        person.held_out = liked_seen[random() % liked_seen.size()];
        std::erase_if(person.history, [&](const Watch& w) { return w.title_id == person.held_out; });
        world.training.insert(world.training.end(), person.history.begin(), person.history.end());
        world.people.push_back(std::move(person));
    }
    return world;
}

TEST(Recommend, FollowsTasteFarBetterThanPopularity) {
    const World world = MakeWorld();
    const auto model = Model::Train(world.titles, world.training, AlsOptions{}, 0);
    std::vector<const Title*> by_popularity;
    for (const Title& title : world.titles) {
        by_popularity.push_back(&title);
    }
    auto popularity = [](const Title* t) { return static_cast<double>(*t->rating_tenths) * std::log10(t->votes + 10.0); };
    std::sort(by_popularity.begin(), by_popularity.end(), [&](auto* a, auto* b) { return popularity(a) > popularity(b); });
    int model_hits = 0, popular_hits = 0, model_liked = 0, popular_liked = 0;
    for (const Person& person : world.people) {
        const auto recommended = model->Recommend(person.history, 10);
        ASSERT_EQ(recommended.size(), 10U);
        for (const auto& r : recommended) {
            model_hits += r.title_id == person.held_out;
            model_liked += world.Likes(person, r.title_id);
        }
        std::set<int64_t> watched;
        for (const auto& w : person.history) {
            watched.insert(w.title_id);
        }
        int shown = 0;
        for (const Title* title : by_popularity) {
            if (shown == 10) {
                break;
            }
            if (!watched.contains(title->id)) {
                ++shown;
                popular_hits += title->id == person.held_out;
                popular_liked += world.Likes(person, title->id);
            }
        }
    }
    const double model_rate = static_cast<double>(model_hits) / kUsers;
    const double popular_rate = static_cast<double>(popular_hits) / kUsers;
    const double model_precision = static_cast<double>(model_liked) / (kUsers * 10);
    const double popular_precision = static_cast<double>(popular_liked) / (kUsers * 10);
    std::printf("hit rate@10: model %.3f, popularity %.3f; taste precision@10: model %.3f, popularity %.3f\n",
                model_rate, popular_rate, model_precision, popular_precision);
    EXPECT_GE(model_rate, 0.25);
    EXPECT_GE(model_rate, 5 * popular_rate);
    EXPECT_GE(model_precision, 0.7);
    EXPECT_GE(model_precision, 10 * popular_precision);
}

TEST(Recommend, ScoresOrderedWithinRangeAndNothingWatched) {
    const World world = MakeWorld();
    const auto model = Model::Train(world.titles, world.training, AlsOptions{}, 0);
    for (const Person& person : world.people) {
        const auto recommended = model->Recommend(person.history, 10);
        for (size_t i = 0; i < recommended.size(); ++i) {
            EXPECT_GE(recommended[i].score_percent, 0);
            EXPECT_LE(recommended[i].score_percent, 100);
            if (i > 0) {
                EXPECT_LE(recommended[i].score_percent, recommended[i - 1].score_percent);
            }
            EXPECT_TRUE(std::none_of(person.history.begin(), person.history.end(),
                                     [&](const Watch& w) { return w.title_id == recommended[i].title_id; }));
            EXPECT_EQ(recommended[i].reason.rfind("because you watched Title ", 0), 0U) << recommended[i].reason;
        }
    }
}

TEST(Recommend, ColdStartAndUnwatchedTitles) {
    World world = MakeWorld();
    // A new, well-rated title nobody has watched, in genre 0.
    Title fresh;
    fresh.id = kTitles + 1;
    fresh.title = "Brand New";
    fresh.genres = {"genre-0"};
    fresh.directors = {"director-0"};
    fresh.year = 2010;
    fresh.rating_tenths = 90;
    fresh.votes = 100'000;
    world.titles.push_back(fresh);
    const auto model = Model::Train(world.titles, world.training, AlsOptions{}, 0);
    // Nobody's history: the most popular titles, said to be popular, with modest scores.
    const auto cold = model->Recommend({}, 10);
    ASSERT_EQ(cold.size(), 10U);
    EXPECT_EQ(cold.front().reason.rfind("popular in genre-", 0), 0U);
    EXPECT_LE(cold.front().score_percent, 60);
    // A fan of director-0 (genre 0) who watched a few of their films gets the new one.
    std::vector<Watch> history;
    for (int64_t id : {1, 121, 241}) {  // director-0's titles
        history.push_back(Watch{1, id, 2, 100, 90, 0});
    }
    const auto recommended = model->Recommend(history, 10);
    EXPECT_TRUE(std::any_of(recommended.begin(), recommended.end(), [](const Recommendation& r) { return r.title == "Brand New"; }));
    // A low rating says "not for me": that title's director does not lead the list.
    const auto disliked = model->Recommend({Watch{1, 1, 1, 100, 20, 0}}, 10);
    EXPECT_TRUE(std::none_of(disliked.begin(), disliked.end(), [&](const Recommendation& r) {
        return world.titles[static_cast<size_t>(r.title_id - 1)].directors.front() == "director-0";
    }));
}

TEST(Recommend, TrainingIsDeterministic) {
    const World world = MakeWorld();
    const auto a = Model::Train(world.titles, world.training, AlsOptions{}, 0)->Recommend(world.people[0].history, 10);
    const auto b = Model::Train(world.titles, world.training, AlsOptions{}, 0)->Recommend(world.people[0].history, 10);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].title_id, b[i].title_id);
        EXPECT_EQ(a[i].score_percent, b[i].score_percent);
    }
}

}  // namespace
}  // namespace beta500::catalog
