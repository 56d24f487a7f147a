#include "live/dubbing.h"

#include <algorithm>

namespace beta500::live {
namespace {

class PassthroughStream : public DubbingStream {
   public:
    explicit PassthroughStream(DubbingEngine::Emit emit) : emit_(std::move(emit)) {}
    void Audio(std::string_view pcm) override { emit_({DubbingOutput::Kind::kAudio, std::string(pcm), {}}); }
    void Text(std::string_view text) override {
        emit_({DubbingOutput::Kind::kTranscript, std::string(text), {}});
        emit_({DubbingOutput::Kind::kTranslation, std::string(text), {}});
    }

   private:
    DubbingEngine::Emit emit_;
};

class PassthroughEngine : public DubbingEngine {
   public:
    std::string_view name() const override { return "passthrough"; }
    std::vector<LanguagePair> languages() const override { return {{"eng", "spa", true}}; }
    std::vector<int> output_rates() const override { return {16000}; }
    std::unique_ptr<DubbingStream> Open(const StreamOptions&, Emit emit) override {
        return std::make_unique<PassthroughStream>(std::move(emit));
    }
};

}  // namespace

std::optional<std::string> Unsupported(const DubbingEngine& engine, const StreamOptions& options) {
    const auto pairs = engine.languages();
    const bool offered = std::any_of(pairs.begin(), pairs.end(), [&](const LanguagePair& pair) {
        return pair.source == options.source && pair.target == options.target && (pair.speech || !options.speech);
    });
    if (!offered) {
        return "unsupported_language_pair";
    }
    const auto rates = engine.output_rates();
    if (std::find(rates.begin(), rates.end(), options.output_rate) == rates.end()) {
        return "unsupported_output_rate";
    }
    return std::nullopt;
}

std::unique_ptr<DubbingEngine> MakePassthroughEngine() { return std::make_unique<PassthroughEngine>(); }

}  // namespace beta500::live
