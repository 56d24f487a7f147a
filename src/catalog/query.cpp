#include "catalog/query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace beta500::catalog {
namespace {

constexpr int64_t kYearMin = 1870;
constexpr int64_t kYearMax = 2100;
constexpr size_t kNameWordsMax = 3;
constexpr int64_t kHighlyRatedTenths = 75;

struct Phrase {
    std::vector<std::string> words;
    const char* value;
};

// Genre words and their synonyms, longest first so "romantic comedy" wins over "comedy".
const std::vector<Phrase>& Genres() {
    static const std::vector<Phrase> genres = [] {
        std::vector<Phrase> list = {
            {{"romantic", "comedy"}, "Romantic Comedy"}, {{"romantic", "comedies"}, "Romantic Comedy"},
            {{"romcom"}, "Romantic Comedy"},            {{"romcoms"}, "Romantic Comedy"},
            {{"rom-com"}, "Romantic Comedy"},           {{"rom-coms"}, "Romantic Comedy"},
            {{"black", "comedy"}, "Black Comedy"},      {{"dark", "comedy"}, "Black Comedy"},
            {{"black", "comedies"}, "Black Comedy"},    {{"dark", "comedies"}, "Black Comedy"},
            {{"comedy"}, "Comedy"},                     {{"comedies"}, "Comedy"},
            {{"funny"}, "Comedy"},                      {{"thriller"}, "Thriller/Suspense"},
            {{"thrillers"}, "Thriller/Suspense"},       {{"suspense"}, "Thriller/Suspense"},
            {{"suspenseful"}, "Thriller/Suspense"},     {{"drama"}, "Drama"},
            {{"dramas"}, "Drama"},                      {{"action"}, "Action"},
            {{"adventure"}, "Adventure"},               {{"adventures"}, "Adventure"},
            {{"horror"}, "Horror"},                     {{"scary"}, "Horror"},
            {{"slasher"}, "Horror"},                    {{"musical"}, "Musical"},
            {{"musicals"}, "Musical"},                  {{"documentary"}, "Documentary"},
            {{"documentaries"}, "Documentary"},         {{"docs"}, "Documentary"},
            {{"western"}, "Western"},                   {{"westerns"}, "Western"},
            {{"concert"}, "Concert/Performance"},       {{"concerts"}, "Concert/Performance"},
        };
        std::stable_sort(list.begin(), list.end(), [](const Phrase& a, const Phrase& b) { return a.words.size() > b.words.size(); });
        return list;
    }();
    return genres;
}

const std::vector<Phrase>& CreativeTypes() {
    static const std::vector<Phrase> types = [] {
        std::vector<Phrase> list = {
            {{"science", "fiction"}, "Science Fiction"}, {{"sci-fi"}, "Science Fiction"},
            {{"scifi"}, "Science Fiction"},              {{"fantasy"}, "Fantasy"},
            {{"super", "hero"}, "Super Hero"},           {{"superhero"}, "Super Hero"},
            {{"superheroes"}, "Super Hero"},             {{"kids"}, "Kids Fiction"},
            {{"family"}, "Kids Fiction"},                {{"children's"}, "Kids Fiction"},
            {{"historical"}, "Historical Fiction"},      {{"true", "story"}, "Dramatization"},
            {{"biopic"}, "Dramatization"},               {{"biopics"}, "Dramatization"},
        };
        std::stable_sort(list.begin(), list.end(), [](const Phrase& a, const Phrase& b) { return a.words.size() > b.words.size(); });
        return list;
    }();
    return types;
}

const std::map<std::string, std::string>& Languages() {
    static const std::map<std::string, std::string> languages = {
        {"english", "English"},   {"french", "French"},       {"spanish", "Spanish"},   {"german", "German"},
        {"italian", "Italian"},   {"japanese", "Japanese"},   {"korean", "Korean"},     {"chinese", "Chinese"},
        {"mandarin", "Mandarin"}, {"cantonese", "Cantonese"}, {"hindi", "Hindi"},       {"russian", "Russian"},
        {"portuguese", "Portuguese"}, {"swedish", "Swedish"}, {"danish", "Danish"},     {"norwegian", "Norwegian"},
        {"dutch", "Dutch"},       {"polish", "Polish"},       {"turkish", "Turkish"},   {"arabic", "Arabic"},
        {"persian", "Persian"},   {"greek", "Greek"},         {"hebrew", "Hebrew"},     {"thai", "Thai"},
    };
    return languages;
}

const std::map<std::string, int64_t>& DecadeWords() {
    static const std::map<std::string, int64_t> words = {
        {"twenties", 1920}, {"thirties", 1930}, {"forties", 1940}, {"fifties", 1950},
        {"sixties", 1960},  {"seventies", 1970}, {"eighties", 1980}, {"nineties", 1990},
    };
    return words;
}

// Words that only dress a query ("show me some good movies").
bool Filler(const std::string& word) {
    static const char* const kFiller[] = {"movie", "movies", "film", "films", "show", "shows", "me", "find",
                                          "some", "something", "please", "want", "watch", "i", "good",
                                          "great", "any", "title", "titles", "with", "a", "an"};
    return std::find(std::begin(kFiller), std::end(kFiller), word) != std::end(kFiller);
}

// Words that end a name or a "like" title.
bool Keyword(const std::string& word) {
    static const char* const kKeywords[] = {"after", "before", "since", "from", "in", "rated", "rating", "like",
                                            "and", "or", "with", "by", "directed", "starring", "featuring",
                                            "between", "above", "over", "until", "during", "of", "the", "movies",
                                            "films", "movie", "film"};
    return std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords);
}

std::vector<std::string> Tokenize(std::string_view query) {
    std::vector<std::string> tokens;
    std::string current;
    auto flush = [&] {
        while (!current.empty() && (current.back() == '.' || current.back() == '-' || current.back() == '\'')) {
            current.pop_back();
        }
        while (!current.empty() && (current.front() == '-' || current.front() == '.')) {
            current.erase(current.begin());
        }
        if (!current.empty()) {
            tokens.push_back(current);
        }
        current.clear();
    };
    for (char raw : query) {
        const auto ch = static_cast<unsigned char>(raw);
        if (std::isalnum(ch) || ch >= 0x80 || raw == '.' || raw == '-' || raw == '\'' || raw == '+') {
            current.push_back(static_cast<char>(std::tolower(ch)));
        } else {
            flush();
        }
    }
    flush();
    return tokens;
}

std::optional<int64_t> ParseYear(const std::string& word) {
    if (word.size() != 4 || !std::all_of(word.begin(), word.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
        return std::nullopt;
    }
    const int64_t year = std::stoll(word);
    return year >= kYearMin && year <= kYearMax ? std::optional<int64_t>(year) : std::nullopt;
}

// "1990s", "90s", "'90s", "nineties" -> 1990.
std::optional<int64_t> Decade(std::string word) {
    if (const auto found = DecadeWords().find(word); found != DecadeWords().end()) {
        return found->second;
    }
    if (!word.empty() && word.front() == '\'') {
        word.erase(word.begin());
    }
    if (word.size() < 3 || word.back() != 's' || word[word.size() - 2] != '0') {
        return std::nullopt;
    }
    word.pop_back();
    if (!std::all_of(word.begin(), word.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
        return std::nullopt;
    }
    if (word.size() == 2) {
        const int64_t decade = std::stoll(word);
        return decade >= 20 ? 1900 + decade : 2000 + decade;  // "20s" is the 1920s; "00s" and "10s" this century
    }
    const auto year = ParseYear(word);
    return year && *year % 10 == 0 ? year : std::nullopt;
}

// A rating from 0 to 10, as tenths: "8", "7.5", "8+" (the plus is the caller's).
std::optional<int64_t> Rating(std::string word) {
    if (!word.empty() && word.back() == '+') {
        word.pop_back();
    }
    if (word.empty() || word.size() > 4 || !std::all_of(word.begin(), word.end(), [](char ch) {
            return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.';
        })) {
        return std::nullopt;
    }
    try {
        const double value = std::stod(word);
        return value >= 0 && value <= 10 ? std::optional<int64_t>(std::llround(value * 10)) : std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string Tenths(int64_t tenths) {
    return tenths % 10 == 0 ? std::to_string(tenths / 10) : std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

class Reader {
   public:
    explicit Reader(std::string_view query) : tokens_(Tokenize(query)), used_(tokens_.size(), false) {}

    ParsedQuery Read() {
        for (size_t i = 0; i < tokens_.size(); ++i) {
            if (!used_[i]) {
                ReadAt(i);
            }
        }
        std::string text;
        for (size_t i = 0; i < tokens_.size(); ++i) {
            if (!used_[i] && !Filler(tokens_[i])) {
                text += (text.empty() ? "" : " ") + tokens_[i];
            }
        }
        out_.text = text;
        return out_;
    }

   private:
    const std::string& At(size_t i) const {
        static const std::string kEmpty;
        return i < tokens_.size() ? tokens_[i] : kEmpty;
    }
    void Use(size_t from, size_t count) {
        for (size_t i = from; i < from + count && i < tokens_.size(); ++i) {
            used_[i] = true;
        }
    }
    // "from the", "in the" before a time: consumed with it.
    void UseLeadIn(size_t i) {
        if (i >= 1 && At(i - 1) == "the" && !used_[i - 1]) {
            used_[i - 1] = true;
            --i;
        }
        if (i >= 1 && (At(i - 1) == "from" || At(i - 1) == "in" || At(i - 1) == "during" || At(i - 1) == "of") &&
            !used_[i - 1]) {
            used_[i - 1] = true;
        }
    }
    bool PhraseAt(size_t i, const std::vector<Phrase>& phrases, std::vector<std::string>& into, const char* label) {
        for (const Phrase& phrase : phrases) {
            bool match = true;
            for (size_t w = 0; w < phrase.words.size() && match; ++w) {
                match = i + w < tokens_.size() && !used_[i + w] && tokens_[i + w] == phrase.words[w];
            }
            if (match) {
                Use(i, phrase.words.size());
                if (std::find(into.begin(), into.end(), phrase.value) == into.end()) {
                    into.emplace_back(phrase.value);
                    out_.understood.push_back(std::string(label) + phrase.value);
                }
                return true;
            }
        }
        return false;
    }
    // Up to kNameWordsMax words after `i` that are not keywords: a person's name or a title.
    std::string NameAfter(size_t i, size_t max_words) {
        std::string name;
        size_t taken = 0;
        for (size_t j = i; j < tokens_.size() && taken < max_words && !used_[j]; ++j, ++taken) {
            const bool article = taken == 0 && (tokens_[j] == "the" || tokens_[j] == "a" || tokens_[j] == "an");
            if ((Keyword(tokens_[j]) && !article && !(taken > 0 && tokens_[j] == "of")) ||
                (Filler(tokens_[j]) && !article)) {
                break;
            }
            name += (name.empty() ? "" : " ") + tokens_[j];
            used_[j] = true;
        }
        return name;
    }
    void YearRange(int64_t min, int64_t max, std::string label) {
        out_.year_min = out_.year_min ? std::max(*out_.year_min, min) : min;
        out_.year_max = out_.year_max ? std::min(*out_.year_max, max) : max;
        out_.understood.push_back(std::move(label));
    }
    void RatingMin(int64_t tenths, std::string label) {
        out_.rating_min_tenths = std::max(out_.rating_min_tenths.value_or(0), tenths);
        out_.understood.push_back(std::move(label));
    }

    void ReadAt(size_t i) {
        const std::string& word = tokens_[i];
        if (PhraseAt(i, Genres(), out_.genres, "genre: ") ||
            PhraseAt(i, CreativeTypes(), out_.creative_types, "type: ")) {
            return;
        }
        if (const auto decade = Decade(word)) {
            Use(i, 1);
            UseLeadIn(i);
            YearRange(*decade, *decade + 9, std::to_string(*decade) + "s");
            return;
        }
        const std::string& next = At(i + 1);
        if (word == "after" || word == "since" || word == "post" || word == "before" || word == "until" ||
            word == "pre") {
            if (const auto year = ParseYear(next)) {
                Use(i, 2);
                if (word == "after" || word == "post") {
                    YearRange(*year + 1, kYearMax, "after " + next);
                } else if (word == "since") {
                    YearRange(*year, kYearMax, "since " + next);
                } else {
                    YearRange(kYearMin, *year - 1, "before " + next);
                }
                return;
            }
        }
        if (word == "between" && ParseYear(next) && At(i + 2) == "and" && ParseYear(At(i + 3))) {
            const int64_t a = *ParseYear(next);
            const int64_t b = *ParseYear(At(i + 3));
            Use(i, 4);
            YearRange(std::min(a, b), std::max(a, b), std::to_string(std::min(a, b)) + "-" + std::to_string(std::max(a, b)));
            return;
        }
        if ((word == "from" || word == "in" || word == "of") && ParseYear(next)) {
            Use(i, 2);
            YearRange(*ParseYear(next), *ParseYear(next), next);
            return;
        }
        if (ReadRating(i)) {
            return;
        }
        if (word == "directed" && next == "by") {
            Use(i, 2);
            AddPerson(i + 2, "directed by ");
            return;
        }
        if (word == "by" || word == "starring" || word == "featuring" || word == "director") {
            Use(i, 1);
            AddPerson(i + 1, word == "by" || word == "director" ? "by " : "starring ");
            return;
        }
        if (const auto language = Languages().find(word); language != Languages().end()) {
            Use(i, 1);
            if (i >= 1 && At(i - 1) == "in" && !used_[i - 1]) {
                used_[i - 1] = true;
            }
            if (At(i + 1) == "language" || At(i + 1) == "speaking") {
                Use(i + 1, 1);
            }
            if (std::find(out_.languages.begin(), out_.languages.end(), language->second) == out_.languages.end()) {
                out_.languages.push_back(language->second);
                out_.understood.push_back("language: " + language->second);
            }
            return;
        }
        if ((word == "like" || (word == "similar" && next == "to")) && out_.like_title.empty()) {
            Use(i, word == "like" ? 1 : 2);
            out_.like_title = NameAfter(i + (word == "like" ? 1 : 2), 8);
            if (!out_.like_title.empty()) {
                out_.understood.push_back("like: " + out_.like_title);
            }
        }
    }

    bool ReadRating(size_t i) {
        const std::string& word = tokens_[i];
        size_t at = i;
        while (At(at) == "rated" || At(at) == "rating" || At(at) == "ratings" || At(at) == "imdb" ||
               At(at) == "score") {
            ++at;
        }
        if ((word == "highly" || word == "top" || word == "best") && (At(i + 1) == "rated")) {
            Use(i, 2);
            RatingMin(kHighlyRatedTenths, "rated " + Tenths(kHighlyRatedTenths) + " or higher");
            return true;
        }
        const std::string& first = At(at);
        const std::string& second = At(at + 1);
        const bool strictly = first == "above" || first == "over" ||
                              ((first == "greater" || first == "more" || first == "higher") && second == "than");
        const bool at_least = first == "at" && second == "least";
        if (strictly || at_least) {
            const size_t number_at = at + ((first == "above" || first == "over") ? 1 : 2);
            if (const auto tenths = Rating(At(number_at)); tenths && (at > i || At(number_at).find('.') != std::string::npos ||
                                                                      std::stoll(At(number_at)) <= 10)) {
                Use(i, number_at - i + 1);
                if (strictly) {
                    RatingMin(*tenths + 1, "rated above " + Tenths(*tenths));
                } else {
                    RatingMin(*tenths, "rated " + Tenths(*tenths) + " or higher");
                }
                return true;
            }
        }
        // "rated 8+", "8 or higher"
        if (at > i && first.size() > 1 && first.back() == '+' && Rating(first)) {
            Use(i, at - i + 1);
            RatingMin(*Rating(first), "rated " + Tenths(*Rating(first)) + " or higher");
            return true;
        }
        if (Rating(first) && first.find_first_not_of("0123456789.") == std::string::npos && At(at + 1) == "or" &&
            (At(at + 2) == "higher" || At(at + 2) == "more" || At(at + 2) == "better" || At(at + 2) == "above")) {
            Use(i, at - i + 3);
            RatingMin(*Rating(first), "rated " + Tenths(*Rating(first)) + " or higher");
            return true;
        }
        return false;
    }

    void AddPerson(size_t from, const char* label) {
        const std::string name = NameAfter(from, kNameWordsMax);
        if (!name.empty()) {
            out_.people.push_back(name);
            out_.understood.push_back(label + name);
        }
    }

    std::vector<std::string> tokens_;
    std::vector<bool> used_;
    ParsedQuery out_;
};

}  // namespace

ParsedQuery ParseQuery(std::string_view query) { return Reader(query.substr(0, kQueryBytesMax)).Read(); }

}  // namespace beta500::catalog
