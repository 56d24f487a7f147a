#include "dubbing/factory.h"

#include "dubbing/apertium.h"
#include "dubbing/espeak.h"
#include "dubbing/pipeline.h"
#include "dubbing/pocketsphinx.h"

namespace beta500::dubbing {
namespace {

// A pipeline with its engines; the pipeline goes first, its workers with it.
class OwnedPipeline : public live::DubbingEngine {
   public:
    OwnedPipeline(std::unique_ptr<Recognizer> recognizer, std::unique_ptr<Translator> translator,
                  std::unique_ptr<Synthesizer> synthesizer, const PipelineConfig& config, obs::Registry& metrics)
        : recognizer_(std::move(recognizer)),
          translator_(std::move(translator)),
          synthesizer_(std::move(synthesizer)),
          pipeline_(recognizer_.get(), *translator_, *synthesizer_, config, metrics) {}

    std::string_view name() const override { return pipeline_.name(); }
    std::vector<live::LanguagePair> languages() const override { return pipeline_.languages(); }
    std::vector<int> output_rates() const override { return pipeline_.output_rates(); }
    std::unique_ptr<live::DubbingStream> Open(const live::StreamOptions& options, Emit emit) override {
        return pipeline_.Open(options, std::move(emit));
    }

   private:
    std::unique_ptr<Recognizer> recognizer_;
    std::unique_ptr<Translator> translator_;
    std::unique_ptr<Synthesizer> synthesizer_;
    PipelineEngine pipeline_;
};

}  // namespace

Result<std::unique_ptr<live::DubbingEngine>> MakeEngine(const Config::Dubbing& config, obs::Registry& metrics) {
    if (config.engine == "passthrough") {
        return live::MakePassthroughEngine();
    }
    std::unique_ptr<Recognizer> recognizer;
    if (config.recognizer == "pocketsphinx") {
        auto loaded = PocketsphinxRecognizer::Load(config.pocketsphinx_model_dir);
        if (!loaded) {
            return loaded.error();
        }
        recognizer = std::move(*loaded);
    }
    auto translator = ApertiumTranslator::Load(config.apertium_modes_dir);
    if (!translator) {
        return translator.error();
    }
    std::vector<std::string> targets;
    for (const auto& pair : (*translator)->pairs()) {
        targets.push_back(pair.substr(pair.find('-') + 1));
    }
    auto synthesizer = EspeakSynthesizer::Load(targets);
    if (!synthesizer) {
        return synthesizer.error();
    }
    const PipelineConfig pipeline{config.streams_max, config.silence_ms, config.utterance_ms_max, config.partial_ms,
                                  config.backlog_ms};
    return std::unique_ptr<live::DubbingEngine>(std::make_unique<OwnedPipeline>(
        std::move(recognizer), std::move(*translator), std::move(*synthesizer), pipeline, metrics));
}

}  // namespace beta500::dubbing
