// The HTTP API's handlers: thin functions that parse a request, call a module and map the
// result (DESIGN section 8). RegisterRoutes wires them into the router; main.cpp owns the parts.
// Handlers never block a network thread: database reads go to the blocking pool, ledger
// operations to the writer's queue.
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "catalog/catalog_store.h"
#include "catalog/recommend.h"
#include "catalog/search.h"
#include "core/clock.h"
#include "fraud/guard.h"
#include "core/config.h"
#include "core/thread_pool.h"
#include "http/router.h"
#include "ledger/writer.h"
#include "live/dubbing.h"
#include "live/events.h"
#include "live/manager.h"
#include "mail/outbox.h"
#include "obs/metrics.h"
#include "store/database.h"

namespace beta500::api {

struct Deps {
    const Config& config;
    const Clock& clock;
    store::Database& database;
    ledger::Writer& writer;
    ThreadPool& blocking;
    obs::Registry& metrics;
    const std::atomic<bool>& draining;  // true once shutdown began (readyz answers 503)
    mail::DeliveryWorker* mail = nullptr;  // poked when an admin retries a dead letter
    // Live sessions (serve always has them; tools that only need the HTTP API may leave them out).
    live::Manager* live = nullptr;
    live::SessionStore* sessions = nullptr;
    live::EventBus* events = nullptr;
    live::DubbingEngine* dubbing = nullptr;
    // The catalog and its AI features (serve always has them).
    catalog::CatalogStore* catalog = nullptr;
    catalog::SearchEngine* search = nullptr;
    catalog::Recommender* recommendations = nullptr;
    // Fraud rules (serve always has them).
    fraud::Guard* fraud = nullptr;
};

// Api: the handlers and the state they share (the token cache). Borrows `deps`; must outlive
// every request the router dispatches.
class Api {
   public:
    explicit Api(Deps& deps);
    ~Api();
    void Register(http::Router& router);

   private:
    class Routes;
    std::unique_ptr<Routes> routes_;
    std::unique_ptr<class WebRoutes> web_;
};

// The OpenAPI 3.1 document (docs/openapi.json, embedded at build time).
std::string_view OpenApiDocument();

}  // namespace beta500::api
