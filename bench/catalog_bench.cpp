// AI search and recommendations, measured side by side with a naive baseline in the same run:
//  - search p50/p99 over a fixed mix of queries on the demo catalog and on a synthetic catalog
//    of 100,000 titles, against an SQLite LIKE scan of titles and descriptions (the baseline);
//  - index build time;
//  - recommendation p50/p99 (fold-in + scoring every title) against a popularity ranking, and
//    ALS training time on the demo catalog and on the synthetic one.
// Usage: catalog_bench DEMO_CATALOG_JSON [SYNTHETIC_TITLES]. Bounded: a few minutes at 100,000.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "catalog/recommend.h"
#include "catalog/search.h"
#include "catalog/titles.h"
#include "core/clock.h"
#include "store/database.h"
#include "store/sqlite.h"

using namespace beta500;
using Steady = std::chrono::steady_clock;

namespace {

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Latency {
    std::vector<double> samples;
    double Percentile(double p) {
        std::sort(samples.begin(), samples.end());
        return samples[std::min(samples.size() - 1, static_cast<size_t>(p * static_cast<double>(samples.size())))];
    }
};

template <typename Body>
Latency Measure(size_t rounds, const std::vector<std::string>& inputs, Body&& body) {
    Latency latency;
    for (size_t round = 0; round < rounds; ++round) {
        for (const auto& input : inputs) {
            const auto started = Steady::now();
            body(input);
            latency.samples.push_back(Ms(Steady::now() - started));
        }
    }
    return latency;
}

// The baseline: the query's first word as a LIKE over titles, descriptions and directors,
// ranked by votes (so every row is scanned, as ranking needs), 10 rows.
void LikeScan(store::Connection& connection, const std::string& query) {
    const catalog::ParsedQuery parsed = catalog::ParseQuery(query);
    std::string word = parsed.text.empty() ? (parsed.people.empty() ? query : parsed.people.front()) : parsed.text;
    word = word.substr(0, word.find(' '));
    auto& statement = connection.Cached(
        "SELECT id FROM titles WHERE title LIKE ?1 OR description LIKE ?1 OR directors LIKE ?1 "
        "ORDER BY votes DESC LIMIT 10");
    statement.Bind(1, "%" + word + "%");
    while (statement.Step()) {
    }
    statement.Reset();
}

struct Bed {
    std::filesystem::path dir;
    std::unique_ptr<store::Database> database;
    std::unique_ptr<catalog::CatalogStore> store;
    std::unique_ptr<catalog::XapianSearch> search;
    std::vector<catalog::Title> titles;
};

Bed MakeBed(const std::string& name, std::vector<catalog::Title> titles, const beta500::Clock& clock) {
    Bed bed;
    bed.dir = std::filesystem::temp_directory_path() / ("beta500-bench-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(bed.dir);
    Config::Database config;
    config.data_dir = bed.dir.string();
    config.synchronous = "normal";
    bed.database = std::move(*store::Database::Open(config, clock));
    bed.store = bed.database->NewCatalogStore();
    auto ids = bed.store->Upsert(titles, clock.NowMs());
    for (size_t i = 0; i < titles.size(); ++i) {
        titles[i].id = (*ids)[i].second;
    }
    bed.titles = std::move(titles);
    bed.search = std::make_unique<catalog::XapianSearch>((bed.dir / "search").string());
    const auto started = Steady::now();
    if (!bed.search->Rebuild(*bed.store, clock.NowMs())) {
        std::fprintf(stderr, "index build failed\n");
        std::exit(1);
    }
    std::printf("  index build: %zu titles in %.0f ms\n", bed.titles.size(), Ms(Steady::now() - started));
    return bed;
}

void SearchFigures(Bed& bed, const std::vector<std::string>& queries, size_t rounds) {
    auto xapian = Measure(rounds, queries, [&](const std::string& query) {
        auto result = bed.search->Search(catalog::SearchRequest{query, 10});
        if (!result) {
            std::exit(1);
        }
    });
    store::Connection connection((bed.dir / "beta500.sqlite3").string(), store::Connection::Options{true, "normal", 5000});
    auto like = Measure(rounds, queries, [&](const std::string& query) { LikeScan(connection, query); });
    const double x50 = xapian.Percentile(0.5), x99 = xapian.Percentile(0.99);
    const double l50 = like.Percentile(0.5), l99 = like.Percentile(0.99);
    std::printf("  search (%zu queries): p50 %.3f ms, p99 %.3f ms | baseline LIKE scan: p50 %.3f ms, p99 %.3f ms | "
                "p99 ratio %.1fx\n",
                xapian.samples.size(), x50, x99, l50, l99, l99 / x99);
}

std::vector<catalog::Watch> Histories(const std::vector<catalog::Title>& titles, size_t users, size_t per_user,
                                      std::mt19937& random) {
    std::vector<catalog::Watch> watches;
    // Each person likes one genre; watches mostly from it.
    std::map<std::string, std::vector<int64_t>> by_genre;
    for (const auto& title : titles) {
        by_genre[title.genres.empty() ? "" : title.genres.front()].push_back(title.id);
    }
    std::vector<std::string> genres;
    for (const auto& [genre, ids] : by_genre) {
        genres.push_back(genre);
    }
    for (size_t u = 0; u < users; ++u) {
        const auto& pool = by_genre[genres[u % genres.size()]];
        for (size_t k = 0; k < per_user; ++k) {
            const int64_t id = k % 4 == 3 ? titles[random() % titles.size()].id : pool[random() % pool.size()];
            watches.push_back(catalog::Watch{static_cast<int64_t>(u + 1), id, 1, 100, std::nullopt, 0});
        }
    }
    std::sort(watches.begin(), watches.end(), [](const auto& a, const auto& b) {
        return a.user_id != b.user_id ? a.user_id < b.user_id : a.title_id < b.title_id;
    });
    watches.erase(std::unique(watches.begin(), watches.end(), [](const auto& a, const auto& b) {
                      return a.user_id == b.user_id && a.title_id == b.title_id;
                  }),
                  watches.end());
    return watches;
}

void RecommendFigures(const std::vector<catalog::Title>& titles, size_t users, size_t per_user) {
    std::mt19937 random(11);
    const auto watches = Histories(titles, users, per_user, random);
    auto started = Steady::now();
    const auto model = catalog::Model::Train(titles, watches, catalog::AlsOptions{}, 0);
    std::printf("  ALS training: %zu titles, %zu people, %zu watches, 32 factors x 12 iterations: %.0f ms\n",
                titles.size(), users, watches.size(), Ms(Steady::now() - started));
    // The people to recommend for: their histories as the model saw them.
    std::vector<std::vector<catalog::Watch>> histories(std::min<size_t>(users, 200));
    for (const auto& watch : watches) {
        if (static_cast<size_t>(watch.user_id) <= histories.size()) {
            histories[static_cast<size_t>(watch.user_id - 1)].push_back(watch);
        }
    }
    std::vector<std::string> index(histories.size());
    for (size_t i = 0; i < index.size(); ++i) {
        index[i] = std::to_string(i);
    }
    auto recommend = Measure(5, index, [&](const std::string& i) { model->Recommend(histories[std::stoul(i)], 10); });
    // Baseline: the 10 most popular titles not watched (a precomputed ranking, filtered).
    std::vector<const catalog::Title*> popular;
    for (const auto& title : titles) {
        popular.push_back(&title);
    }
    std::sort(popular.begin(), popular.end(), [](auto* a, auto* b) { return a->votes > b->votes; });
    auto baseline = Measure(5, index, [&](const std::string& i) {
        const auto& history = histories[std::stoul(i)];
        std::vector<int64_t> out;
        for (const auto* title : popular) {
            if (out.size() == 10) {
                break;
            }
            if (std::none_of(history.begin(), history.end(), [&](const auto& w) { return w.title_id == title->id; })) {
                out.push_back(title->id);
            }
        }
    });
    const double r99 = recommend.Percentile(0.99), b99 = baseline.Percentile(0.99);
    std::printf("  recommendations (%zu calls): p50 %.3f ms, p99 %.3f ms | baseline popularity: p50 %.4f ms, p99 "
                "%.4f ms | p99 ratio %.0fx\n",
                recommend.samples.size(), recommend.Percentile(0.5), r99, baseline.Percentile(0.5), b99, r99 / b99);
}

std::vector<catalog::Title> Synthetic(size_t count) {
    std::mt19937 random(5);
    static const char* const kSyllables[] = {"ka", "ri", "mo", "zen", "tor", "vel", "an", "shi", "lo", "ber",
                                             "qua", "dri", "nex", "pol", "um", "sar", "fi", "go", "ha", "lux"};
    auto word = [&] {
        std::string w;
        for (int s = 0; s < 2 + static_cast<int>(random() % 2); ++s) {
            w += kSyllables[random() % 20];
        }
        return w;
    };
    std::vector<std::string> vocabulary(8000);
    for (auto& w : vocabulary) {
        w = word();
    }
    std::vector<std::string> people(20000);
    for (auto& p : people) {
        p = word() + " " + word();
        p[0] = static_cast<char>(std::toupper(p[0]));
    }
    static const char* const kGenres[] = {"Drama", "Comedy", "Action", "Adventure", "Thriller/Suspense", "Horror",
                                          "Romantic Comedy", "Musical", "Documentary", "Western", "Black Comedy"};
    std::vector<catalog::Title> titles(count);
    for (size_t i = 0; i < count; ++i) {
        auto& t = titles[i];
        t.source_id = "synthetic:" + std::to_string(i);
        const int words = 1 + static_cast<int>(random() % 4);
        for (int w = 0; w < words; ++w) {
            t.title += (w ? " " : "") + vocabulary[random() % vocabulary.size()];
        }
        t.year = 1930 + static_cast<int64_t>(random() % 90);
        t.genres = {kGenres[random() % 11]};
        t.directors = {people[random() % people.size()]};
        t.cast = {people[random() % people.size()], people[random() % people.size()]};
        for (int w = 0; w < 25; ++w) {
            t.description += (w ? " " : "") + vocabulary[random() % vocabulary.size()];
        }
        t.rating_tenths = 30 + static_cast<int64_t>(random() % 65);
        t.votes = static_cast<int64_t>(1'000'000 / (1 + random() % 5000));
    }
    return titles;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: catalog_bench DEMO_CATALOG_JSON [SYNTHETIC_TITLES]\n");
        return 2;
    }
    const size_t synthetic = argc > 2 ? std::stoul(argv[2]) : 100'000;
    SystemClock clock;
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    std::vector<catalog::Title> demo;
    const auto rows = catalog::ParseImport(text.str(), false);
    for (const auto& row : *rows) {
        demo.push_back(*row.title);
    }
    const std::vector<std::string> demo_queries = {
        "titanic", "jurasic park", "star wars", "thrillers from the 90s", "comedies after 2005",
        "directed by steven spielberg", "sci-fi rated above 8", "movies like the matrix", "love story",
        "horror from the 80s", "dark knight", "romantic comedies with high ratings", "war", "the godfather",
        "animated family films", "documentary", "westerns before 1970", "action adventure", "christmas", "space"};
    std::printf("== demo catalog (vega-datasets)\n");
    Bed bed = MakeBed("demo", demo, clock);
    SearchFigures(bed, demo_queries, 50);
    RecommendFigures(bed.titles, 500, 20);

    std::printf("== synthetic catalog\n");
    Bed big = MakeBed("synthetic", Synthetic(synthetic), clock);
    std::vector<std::string> big_queries;
    for (size_t i = 0; i < 20; ++i) {
        const auto& t = big.titles[(i * 7919) % big.titles.size()];
        switch (i % 4) {
            case 0: big_queries.push_back(t.title); break;
            case 1: big_queries.push_back("directed by " + t.directors.front()); break;
            case 2: big_queries.push_back("thrillers from the 90s " + t.title.substr(0, t.title.find(' '))); break;
            default: big_queries.push_back(t.description.substr(0, t.description.find(' ')) + " comedies rated above 7");
        }
    }
    SearchFigures(big, big_queries, 50);
    RecommendFigures(big.titles, 5000, 30);
    std::filesystem::remove_all(bed.dir);
    std::filesystem::remove_all(big.dir);
    return 0;
}
