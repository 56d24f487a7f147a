// AI recommendations: implicit-feedback ALS (Hu, Koren and Volinsky 2008) on watch history,
// with Eigen, blended with content similarity (genres, type, directors, cast, decade) and a
// popularity prior, so people without history and titles without watchers still get sensible
// results. A Model is trained whole and never changes; RecommendationService retrains it in the
// background (on a schedule and on demand) and swaps it in atomically.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "catalog/catalog_store.h"
#include "core/clock.h"
#include "core/result.h"
#include "obs/metrics.h"

namespace beta500::catalog {

struct AlsOptions {
    int factors = 32;
    int iterations = 12;
    double regularization = 0.1;
    double alpha = 15;  // confidence = 1 + alpha * strength
};

struct Recommendation {
    int64_t title_id = 0;
    std::string title;
    std::optional<int64_t> year;
    std::vector<std::string> genres;
    int64_t score_percent = 0;  // 0-100, non-increasing down the list
    std::string reason;         // "because you watched X" or "popular in Comedy"
};

class Model {
   public:
    // Trains on every title and every watch. Deterministic for the same input.
    static std::shared_ptr<const Model> Train(const std::vector<Title>& titles, const std::vector<Watch>& watches,
                                              const AlsOptions& options, int64_t now_ms);

    // The best `count` titles for someone with this history (their current one, which may be
    // newer than the model's), never one they have watched.
    std::vector<Recommendation> Recommend(const std::vector<Watch>& history, size_t count) const;

    int64_t trained_at_ms() const { return trained_at_ms_; }
    size_t titles() const { return titles_.size(); }
    size_t users() const { return users_; }

   private:
    struct Item {
        int64_t id = 0;
        std::string title;
        std::optional<int64_t> year;
        std::vector<std::string> genres;
        std::vector<uint32_t> features;  // ids of "g:drama", "t:fantasy", "p:david fincher", "y:1990"
        double popularity = 0;               // [0, 1]
        bool trained = false;                // someone watched it in the training data
    };
    Model() = default;

    std::vector<Item> titles_;
    std::unordered_map<int64_t, size_t> index_;  // title id -> position
    size_t features_count_ = 0;                  // distinct content features
    std::vector<float> factors_;                 // titles x factors, row-major
    int factors_count_ = 0;
    std::vector<float> gram_;                    // Y^T Y (factors x factors)
    AlsOptions options_;
    size_t users_ = 0;
    int64_t trained_at_ms_ = 0;
};

// How strongly a watch says "I like this": views, how far, and the rating if any. Ratings below
// 5/10 say "not for me" (strength 0).
double Strength(const Watch& watch);

// What the API needs from a recommender, so a hosted one could replace the local model.
class Recommender {
   public:
    virtual ~Recommender() = default;
    struct List {
        std::vector<Recommendation> items;
        int64_t model_trained_at_ms = 0;
    };
    // kUnavailable until a model exists.
    virtual Result<List> Recommend(const std::vector<Watch>& history, size_t count) const = 0;
    // Asks for a retraining soon (in the background).
    virtual void RetrainSoon() = 0;
};

class RecommendationService final : public Recommender {
   public:
    // Borrows the store, the clock and the metrics (may be null). The first model trains in
    // Start's background thread.
    RecommendationService(CatalogStore& store, const Clock& clock, AlsOptions options, int64_t retrain_seconds,
                          obs::Registry* metrics = nullptr);
    ~RecommendationService() override;
    void Start();
    void Stop();

    // The current model (null until the first training ends).
    std::shared_ptr<const Model> model() const;
    // Trains now (blocking) and swaps the new model in.
    Status Retrain();
    Result<List> Recommend(const std::vector<Watch>& history, size_t count) const override;
    // Asks the background thread to retrain soon.
    void RetrainSoon() override;

   private:
    void Loop();

    CatalogStore& store_;
    const Clock& clock_;
    const AlsOptions options_;
    const int64_t retrain_seconds_;
    obs::Registry* metrics_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::shared_ptr<const Model> model_;  // GUARDED_BY(mutex_)
    bool stopping_ = false;               // GUARDED_BY(mutex_)
    bool retrain_ = false;                // GUARDED_BY(mutex_)
    std::mutex train_mutex_;              // one training at a time
    std::thread thread_;
};

}  // namespace beta500::catalog
