#include "store/sql_catalog_store.h"

#include <boost/json.hpp>

namespace beta500::store {
namespace json = boost::json;
using catalog::Title;
using catalog::Watch;

namespace {

constexpr const char* kTitleColumns =
    "id, source_id, title, year, genres, directors, cast_members, languages, description, rating_tenths, "
    "votes, runtime_minutes, source, creative_type";

std::string ToJson(const std::vector<std::string>& items) {
    json::array array;
    for (const auto& item : items) {
        array.emplace_back(item);
    }
    return json::serialize(array);
}

std::vector<std::string> FromJson(const std::string& text) {
    std::vector<std::string> items;
    boost::system::error_code error;
    const json::value value = json::parse(text, error);
    if (!error && value.is_array()) {
        for (const auto& item : value.as_array()) {
            if (item.is_string()) {
                items.emplace_back(item.as_string());
            }
        }
    }
    return items;
}

std::optional<int64_t> OptionalInt(const SqlStatement& row, int column) {
    return row.IsNull(column) ? std::nullopt : std::optional<int64_t>(row.Int(column));
}

Title ReadTitle(const SqlStatement& row) {
    Title title;
    title.id = row.Int(0);
    title.source_id = row.IsNull(1) ? "" : row.Text(1);
    title.title = row.Text(2);
    title.year = OptionalInt(row, 3);
    title.genres = FromJson(row.Text(4));
    title.directors = FromJson(row.Text(5));
    title.cast = FromJson(row.Text(6));
    title.languages = FromJson(row.Text(7));
    title.description = row.Text(8);
    title.rating_tenths = OptionalInt(row, 9);
    title.votes = row.Int(10);
    title.runtime_minutes = OptionalInt(row, 11);
    title.source = row.Text(12);
    title.creative_type = row.Text(13);
    return title;
}

std::vector<Title> ReadTitles(SqlStatement& statement) {
    std::vector<Title> titles;
    while (statement.Step()) {
        titles.push_back(ReadTitle(statement));
    }
    statement.Reset();
    return titles;
}

// Binds a title's fields to ?1..?13 (source_id, title, ... creative_type) and now to ?14.
SqlStatement& BindTitle(SqlStatement& statement, const Title& title, int64_t now_ms) {
    if (title.source_id.empty()) {
        statement.BindNull(1);
    } else {
        statement.Bind(1, title.source_id);
    }
    return statement.Bind(2, title.title)
        .Bind(3, title.year)
        .Bind(4, ToJson(title.genres))
        .Bind(5, ToJson(title.directors))
        .Bind(6, ToJson(title.cast))
        .Bind(7, ToJson(title.languages))
        .Bind(8, title.description)
        .Bind(9, title.rating_tenths)
        .Bind(10, title.votes)
        .Bind(11, title.runtime_minutes)
        .Bind(12, title.source)
        .Bind(13, title.creative_type)
        .Bind(14, now_ms);
}

bool SameContent(const Title& a, const Title& b) {
    return a.title == b.title && a.year == b.year && a.genres == b.genres && a.directors == b.directors &&
           a.cast == b.cast && a.languages == b.languages && a.description == b.description &&
           a.rating_tenths == b.rating_tenths && a.votes == b.votes && a.runtime_minutes == b.runtime_minutes &&
           a.source == b.source && a.creative_type == b.creative_type;
}

std::vector<Watch> ReadWatches(SqlStatement& statement) {
    std::vector<Watch> watches;
    while (statement.Step()) {
        watches.push_back(Watch{statement.Int(0), statement.Int(1), statement.Int(2), statement.Int(3),
                                OptionalInt(statement, 4), statement.Int(5)});
    }
    statement.Reset();
    return watches;
}

constexpr const char* kWatchColumns = "user_id, title_id, views, progress_percent, rating_tenths, updated_at";

}  // namespace

template <typename Body>
auto SqlCatalogStore::Locked(Body&& body) -> decltype(body()) {
    return LockedCall(mutex_, *connection_, std::forward<Body>(body));
}

Result<std::vector<std::pair<catalog::UpsertOutcome, int64_t>>> SqlCatalogStore::Upsert(const std::vector<Title>& titles,
                                                                                    int64_t now_ms) {
    return Locked([&]() -> Result<std::vector<std::pair<catalog::UpsertOutcome, int64_t>>> {
        std::vector<std::pair<catalog::UpsertOutcome, int64_t>> outcomes;
        connection_->Transaction([&] {
            for (const Title& title : titles) {
                std::optional<Title> existing;
                if (!title.source_id.empty()) {
                    SqlStatement& find = connection_->Cached(std::string("SELECT ") + kTitleColumns +
                                                          " FROM titles WHERE source_id = ?");
                    find.Bind(1, title.source_id);
                    if (find.Step()) {
                        existing = ReadTitle(find);
                    }
                    find.Reset();
                }
                if (existing && SameContent(*existing, title)) {
                    outcomes.emplace_back(catalog::UpsertOutcome::kUnchanged, existing->id);
                } else if (existing) {
                    BindTitle(connection_->Cached(
                                  "UPDATE titles SET source_id = ?1, title = ?2, year = ?3, genres = ?4, "
                                  "directors = ?5, cast_members = ?6, languages = ?7, description = ?8, "
                                  "rating_tenths = ?9, votes = ?10, runtime_minutes = ?11, source = ?12, "
                                  "creative_type = ?13, updated_at = ?14 WHERE id = ?15"),
                              title, now_ms)
                        .Bind(15, existing->id)
                        .Run();
                    outcomes.emplace_back(catalog::UpsertOutcome::kUpdated, existing->id);
                } else {
                    BindTitle(connection_->Cached(
                                  "INSERT INTO titles (source_id, title, year, genres, directors, cast_members, "
                                  "languages, description, rating_tenths, votes, runtime_minutes, source, "
                                  "creative_type, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                  "?11, ?12, ?13, ?14)"),
                              title, now_ms)
                        .Run();
                    outcomes.emplace_back(catalog::UpsertOutcome::kCreated, connection_->LastInsertRowId());
                }
            }
        });
        return outcomes;
    });
}

Result<bool> SqlCatalogStore::Update(const Title& title, int64_t now_ms) {
    return Locked([&]() -> Result<bool> {
        SqlStatement& update = BindTitle(
            connection_->Cached("UPDATE titles SET source_id = ?1, title = ?2, year = ?3, genres = ?4, "
                                "directors = ?5, cast_members = ?6, languages = ?7, description = ?8, "
                                "rating_tenths = ?9, votes = ?10, runtime_minutes = ?11, source = ?12, "
                                "creative_type = ?13, updated_at = ?14 WHERE id = ?15"),
            title, now_ms);
        update.Bind(15, title.id).Run();
        return connection_->Changes() > 0;
    });
}

Result<std::optional<Title>> SqlCatalogStore::Find(int64_t id) {
    return Locked([&]() -> Result<std::optional<Title>> {
        SqlStatement& find = connection_->Cached(std::string("SELECT ") + kTitleColumns + " FROM titles WHERE id = ?");
        find.Bind(1, id);
        auto titles = ReadTitles(find);
        return titles.empty() ? std::nullopt : std::optional<Title>(std::move(titles.front()));
    });
}

Result<std::vector<Title>> SqlCatalogStore::Page(int64_t after_id, int64_t limit) {
    return Locked([&]() -> Result<std::vector<Title>> {
        SqlStatement& page = connection_->Cached(std::string("SELECT ") + kTitleColumns +
                                              " FROM titles WHERE id > ? ORDER BY id LIMIT ?");
        page.Bind(1, after_id).Bind(2, limit);
        return ReadTitles(page);
    });
}

Result<std::vector<Title>> SqlCatalogStore::ChangedSince(int64_t since_ms) {
    return Locked([&]() -> Result<std::vector<Title>> {
        SqlStatement& changed = connection_->Cached(std::string("SELECT ") + kTitleColumns +
                                                 " FROM titles WHERE updated_at >= ? ORDER BY id");
        changed.Bind(1, since_ms);
        return ReadTitles(changed);
    });
}

Result<int64_t> SqlCatalogStore::Count() {
    return Locked([&]() -> Result<int64_t> {
        SqlStatement& count = connection_->Cached("SELECT COUNT(*) FROM titles");
        count.Step();
        const int64_t n = count.Int(0);
        count.Reset();
        return n;
    });
}

Status SqlCatalogStore::RecordWatch(const Watch& watch) {
    return Locked([&]() -> Status {
        connection_
            ->Cached("INSERT INTO watch_history (user_id, title_id, views, progress_percent, rating_tenths, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user_id, title_id) DO UPDATE SET "
                     "views = watch_history.views + excluded.views, progress_percent = CASE WHEN "
                     "excluded.progress_percent > watch_history.progress_percent THEN excluded.progress_percent "
                     "ELSE watch_history.progress_percent END, rating_tenths = coalesce(excluded.rating_tenths, "
                     "watch_history.rating_tenths), updated_at = excluded.updated_at")
            .Bind(1, watch.user_id).Bind(2, watch.title_id).Bind(3, watch.views)
            .Bind(4, watch.progress_percent).Bind(5, watch.rating_tenths).Bind(6, watch.updated_at_ms).Run();
        return Status::Ok();
    });
}

Result<std::vector<Watch>> SqlCatalogStore::WatchesOf(int64_t user_id) {
    return Locked([&]() -> Result<std::vector<Watch>> {
        SqlStatement& watches = connection_->Cached(std::string("SELECT ") + kWatchColumns +
                                                 " FROM watch_history WHERE user_id = ? ORDER BY updated_at DESC");
        watches.Bind(1, user_id);
        return ReadWatches(watches);
    });
}

Result<std::pair<int64_t, bool>> SqlCatalogStore::HistoryHolds(int64_t user_id, int64_t title_id) {
    return Locked([&]() -> Result<std::pair<int64_t, bool>> {
        SqlStatement& query = connection_->Cached(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN title_id = ?2 THEN 1 ELSE 0 END), 0) FROM watch_history "
            "WHERE user_id = ?1");
        query.Bind(1, user_id).Bind(2, title_id);
        query.Step();
        const std::pair<int64_t, bool> holds{query.Int(0), query.Int(1) != 0};
        query.Reset();
        return holds;
    });
}

Result<std::vector<Watch>> SqlCatalogStore::AllWatches() {
    return Locked([&]() -> Result<std::vector<Watch>> {
        SqlStatement& watches = connection_->Cached(std::string("SELECT ") + kWatchColumns +
                                                 " FROM watch_history ORDER BY user_id, title_id");
        return ReadWatches(watches);
    });
}

Status SqlCatalogStore::SaveRecommendations(int64_t user_id, const std::string& list, int64_t now_ms) {
    return Locked([&]() -> Status {
        connection_
            ->Cached("INSERT INTO recommendation_lists (user_id, list, created_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (user_id) DO UPDATE SET list = excluded.list, created_at = excluded.created_at")
            .Bind(1, user_id).Bind(2, list).Bind(3, now_ms).Run();
        return Status::Ok();
    });
}

Result<std::optional<std::string>> SqlCatalogStore::Recommendations(int64_t user_id) {
    return Locked([&]() -> Result<std::optional<std::string>> {
        SqlStatement& query = connection_->Cached("SELECT list FROM recommendation_lists WHERE user_id = ?");
        query.Bind(1, user_id);
        std::optional<std::string> list;
        if (query.Step()) {
            list = query.Text(0);
        }
        query.Reset();
        return list;
    });
}

}  // namespace beta500::store
