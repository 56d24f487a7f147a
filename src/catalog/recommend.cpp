#include "catalog/recommend.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <spdlog/spdlog.h>

namespace beta500::catalog {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

// Blend of the three signals; each is in [0, 1], so the blend is too.
constexpr double kCollaborative = 0.55;
constexpr double kContent = 0.30;
constexpr double kPopularity = 0.15;
// Without collaborative evidence (no watched title the model knows).
constexpr double kContentOnly = 0.70;
// Without any history: popularity alone, scaled so it never claims a strong match.
constexpr double kColdStartScale = 0.6;
constexpr size_t kViewsCounted = 5;

std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return text;
}

struct Entry {
    size_t index;
    float strength;
};

// Solves one row of ALS: (G + lambda I + sum (c - 1) y y^T) x = sum c p y, over the entries.
Vector SolveRow(const Eigen::Ref<const Matrix>& other, const Eigen::Ref<const Matrix>& gram,
                const std::vector<Entry>& entries, const AlsOptions& options) {
    const int f = static_cast<int>(other.cols());
    Matrix a = gram;
    a.diagonal().array() += static_cast<float>(options.regularization);
    Vector b = Vector::Zero(f);
    for (const Entry& entry : entries) {
        const auto y = other.row(static_cast<Eigen::Index>(entry.index));
        // A dislike (strength 0) is preference 0 with ordinary confidence; a like is preference 1.
        const float confidence = 1.0f + static_cast<float>(options.alpha) * std::max(entry.strength, 1.0f);
        a.noalias() += (confidence - 1.0f) * y.transpose() * y;
        if (entry.strength > 0) {
            b.noalias() += confidence * y.transpose();
        }
    }
    return a.ldlt().solve(b);
}

}  // namespace


double Strength(const Watch& watch) {
    if (watch.rating_tenths && *watch.rating_tenths < 50) {
        return 0;
    }
    double strength = static_cast<double>(std::min<int64_t>(watch.views, kViewsCounted)) +
                      static_cast<double>(watch.progress_percent) / 100;
    if (watch.rating_tenths) {
        strength += *watch.rating_tenths >= 70 ? 2 : 0.5;
    }
    return strength;
}

std::shared_ptr<const Model> Model::Train(const std::vector<Title>& titles, const std::vector<Watch>& watches,
                                          const AlsOptions& options, int64_t now_ms) {
    auto model = std::shared_ptr<Model>(new Model());
    model->options_ = options;
    model->trained_at_ms_ = now_ms;
    model->factors_count_ = options.factors;
    double popularity_max = 0;
    std::unordered_map<std::string, uint32_t> feature_ids;
    for (const Title& title : titles) {
        Item item{title.id, title.title, title.year, title.genres, {}, 0, false};
        auto feature = [&](const std::string& name) {
            const auto [it, added] = feature_ids.try_emplace(name, static_cast<uint32_t>(feature_ids.size()));
            if (std::find(item.features.begin(), item.features.end(), it->second) == item.features.end()) {
                item.features.push_back(it->second);
            }
        };
        for (const auto& genre : title.genres) {
            feature("g:" + Lower(genre));
        }
        if (!title.creative_type.empty()) {
            feature("t:" + Lower(title.creative_type));
        }
        for (const auto* people : {&title.directors, &title.cast}) {
            for (const auto& person : *people) {
                feature("p:" + Lower(person));
            }
        }
        if (title.year) {
            feature("y:" + std::to_string(*title.year / 10 * 10));
        }
        const double rating = title.rating_tenths ? static_cast<double>(*title.rating_tenths) / 100 : 0.5;
        item.popularity = rating * std::log10(static_cast<double>(title.votes) + 10);
        popularity_max = std::max(popularity_max, item.popularity);
        model->index_[title.id] = model->titles_.size();
        model->titles_.push_back(std::move(item));
    }
    for (Item& item : model->titles_) {
        item.popularity = popularity_max > 0 ? item.popularity / popularity_max : 0;
    }
    model->features_count_ = feature_ids.size();

    // The interaction lists, both ways.
    std::unordered_map<int64_t, std::vector<Entry>> by_user;
    std::vector<std::vector<Entry>> by_item(model->titles_.size());
    std::vector<int64_t> user_ids;
    for (const Watch& watch : watches) {
        const auto found = model->index_.find(watch.title_id);
        if (found == model->index_.end()) {
            continue;
        }
        auto [it, inserted] = by_user.try_emplace(watch.user_id);
        if (inserted) {
            user_ids.push_back(watch.user_id);
        }
        it->second.push_back(Entry{found->second, static_cast<float>(Strength(watch))});
    }
    std::sort(user_ids.begin(), user_ids.end());
    model->users_ = user_ids.size();
    const int f = options.factors;
    const auto items = static_cast<Eigen::Index>(model->titles_.size());
    Matrix x = Matrix::Zero(static_cast<Eigen::Index>(user_ids.size()), f);
    Matrix y(items, f);
    std::mt19937 random(42);
    std::normal_distribution<float> noise(0.0f, 0.1f);
    for (Eigen::Index i = 0; i < y.size(); ++i) {
        y.data()[i] = noise(random);
    }
    for (size_t u = 0; u < user_ids.size(); ++u) {
        for (const Entry& entry : by_user[user_ids[u]]) {
            by_item[entry.index].push_back(Entry{u, entry.strength});
            model->titles_[entry.index].trained = true;
        }
    }
    for (int iteration = 0; iteration < options.iterations && !user_ids.empty(); ++iteration) {
        const Matrix gram_y = y.transpose() * y;
        for (size_t u = 0; u < user_ids.size(); ++u) {
            x.row(static_cast<Eigen::Index>(u)) = SolveRow(y, gram_y, by_user[user_ids[u]], options).transpose();
        }
        const Matrix gram_x = x.transpose() * x;
        for (Eigen::Index i = 0; i < items; ++i) {
            y.row(i) = SolveRow(x, gram_x, by_item[static_cast<size_t>(i)], options).transpose();
        }
    }
    const Matrix gram = y.transpose() * y;
    model->factors_.assign(y.data(), y.data() + y.size());
    model->gram_.assign(gram.data(), gram.data() + gram.size());
    return model;
}

std::vector<Recommendation> Model::Recommend(const std::vector<Watch>& history, size_t count) const {
    const int f = factors_count_;
    const Eigen::Map<const Matrix> y(factors_.data(), static_cast<Eigen::Index>(titles_.size()), f);
    const Eigen::Map<const Matrix> gram(gram_.data(), f, f);
    std::vector<Entry> known;
    std::vector<bool> watched(titles_.size(), false);
    std::vector<double> profile(features_count_, 0.0);
    for (const Watch& watch : history) {
        const auto found = index_.find(watch.title_id);
        if (found == index_.end()) {
            continue;
        }
        watched[found->second] = true;
        const double strength = Strength(watch);
        known.push_back(Entry{found->second, static_cast<float>(strength)});
        for (const uint32_t feature : titles_[found->second].features) {
            profile[feature] += strength > 0 ? strength : -1.0;
        }
    }
    // Fold the person in: their factors from their current history and the model's titles.
    const bool collaborative = std::any_of(known.begin(), known.end(), [](const Entry& e) { return e.strength > 0; }) &&
                               users_ > 0;
    Vector user = Vector::Zero(f);
    if (collaborative) {
        user = SolveRow(y, gram, known, options_);
    }
    // Liked features count for a title, disliked ones (weight below 0) against it.
    double profile_norm = 0;
    for (const double weight : profile) {
        profile_norm += weight * weight;
    }
    profile_norm = std::sqrt(profile_norm);

    std::vector<double> cf(titles_.size(), 0);
    double cf_min = 0;
    double cf_max = 0;
    if (collaborative) {
        const Vector scores = y * user;
        bool first = true;
        for (size_t i = 0; i < titles_.size(); ++i) {
            cf[i] = scores[static_cast<Eigen::Index>(i)];
            if (!watched[i]) {
                cf_min = first ? cf[i] : std::min(cf_min, cf[i]);
                cf_max = first ? cf[i] : std::max(cf_max, cf[i]);
                first = false;
            }
        }
    }
    std::vector<std::pair<double, size_t>> ranked;
    ranked.reserve(titles_.size());
    for (size_t i = 0; i < titles_.size(); ++i) {
        if (watched[i]) {
            continue;
        }
        const Item& item = titles_[i];
        double content = 0;
        if (profile_norm > 0 && !item.features.empty()) {
            for (const uint32_t feature : item.features) {
                content += profile[feature];
            }
            content /= profile_norm * std::sqrt(static_cast<double>(item.features.size()));
        }
        double score = 0;
        if (collaborative) {
            // A title nobody watched in training has no factors to speak of: content speaks for it.
            const double normalized = !item.trained                  ? std::max(content, 0.0)
                                      : cf_max > cf_min ? (cf[i] - cf_min) / (cf_max - cf_min)
                                                        : 0;
            score = kCollaborative * normalized + kContent * content + kPopularity * item.popularity;
        } else if (profile_norm > 0) {
            score = kContentOnly * content + (1 - kContentOnly) * item.popularity;
        } else {
            score = kColdStartScale * item.popularity;
        }
        ranked.emplace_back(std::clamp(score, 0.0, 1.0), i);
    }
    const size_t n = std::min(count, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                      [&](const auto& a, const auto& b) {
                          return a.first != b.first ? a.first > b.first : titles_[a.second].id < titles_[b.second].id;
                      });
    std::vector<Recommendation> out;
    for (size_t k = 0; k < n; ++k) {
        const auto [score, i] = ranked[k];
        const Item& item = titles_[i];
        Recommendation recommendation{item.id, item.title, item.year, item.genres,
                                      std::clamp<int64_t>(std::llround(score * 100), 0, 100), ""};
        // The reason: the liked title most like this one (shared features, then factors).
        double best = 0;
        const Item* because = nullptr;
        for (const Entry& entry : known) {
            if (entry.strength <= 0) {
                continue;
            }
            const Item& seen = titles_[entry.index];
            double shared = 0;
            for (const auto& feature : seen.features) {
                shared += std::count(item.features.begin(), item.features.end(), feature) > 0 ? 1 : 0;
            }
            double similarity = shared;
            if (collaborative) {
                const auto a = y.row(static_cast<Eigen::Index>(i));
                const auto b = y.row(static_cast<Eigen::Index>(entry.index));
                const double norms = a.norm() * b.norm();
                similarity += norms > 0 ? a.dot(b) / norms : 0;
            }
            if (similarity > best) {
                best = similarity;
                because = &seen;
            }
        }
        recommendation.reason = because != nullptr ? "because you watched " + because->title
                                : item.genres.empty() ? "popular on Beta 500"
                                                      : "popular in " + item.genres.front();
        out.push_back(std::move(recommendation));
    }
    return out;
}

RecommendationService::RecommendationService(CatalogStore& store, const Clock& clock, AlsOptions options,
                                             int64_t retrain_seconds, obs::Registry* metrics)
    : store_(store), clock_(clock), options_(options), retrain_seconds_(retrain_seconds), metrics_(metrics) {}

RecommendationService::~RecommendationService() { Stop(); }

void RecommendationService::Start() { thread_ = std::thread([this] { Loop(); }); }

void RecommendationService::Stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::shared_ptr<const Model> RecommendationService::model() const {
    std::lock_guard lock(mutex_);
    return model_;
}

Result<Recommender::List> RecommendationService::Recommend(const std::vector<Watch>& history, size_t count) const {
    const auto current = model();
    if (current == nullptr) {
        return Error{ErrorCode::kUnavailable, "the recommendation model is being trained"};
    }
    return List{current->Recommend(history, count), current->trained_at_ms()};
}

void RecommendationService::RetrainSoon() {
    {
        std::lock_guard lock(mutex_);
        retrain_ = true;
    }
    wake_.notify_all();
}

Status RecommendationService::Retrain() {
    std::lock_guard training(train_mutex_);
    std::vector<Title> titles;
    for (int64_t after_id = 0;;) {
        auto page = store_.Page(after_id, 5000);
        if (!page) {
            return page.error();
        }
        if (page->empty()) {
            break;
        }
        after_id = page->back().id;
        titles.insert(titles.end(), std::make_move_iterator(page->begin()), std::make_move_iterator(page->end()));
    }
    auto watches = store_.AllWatches();
    if (!watches) {
        return watches.error();
    }
    const auto started = std::chrono::steady_clock::now();
    auto model = Model::Train(titles, *watches, options_, clock_.NowMs());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("msg=\"recommendation model trained\" titles={} users={} watches={} ms={}", model->titles(),
                 model->users(), watches->size(), std::llround(seconds * 1000));
    if (metrics_ != nullptr) {
        // The model's age is time() minus this.
        metrics_->GetGauge("beta500_recommendation_model_trained_timestamp_seconds",
                           "When the recommendation model in use was trained.")
            .Set(model->trained_at_ms() / 1000);
        metrics_->GetGauge("beta500_recommendation_training_milliseconds", "How long the last training took.")
            .Set(std::llround(seconds * 1000));
    }
    std::lock_guard lock(mutex_);
    model_ = std::move(model);
    return Status::Ok();
}

void RecommendationService::Loop() {
    while (true) {
        if (Status trained = Retrain(); !trained) {
            spdlog::warn("msg=\"recommendation model not trained\" error=\"{}\"", trained.error().message);
        }
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::seconds(retrain_seconds_), [this] { return stopping_ || retrain_; });
        if (stopping_) {
            return;
        }
        retrain_ = false;
    }
}

}  // namespace beta500::catalog
