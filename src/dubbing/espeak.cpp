#include "dubbing/espeak.h"

#include <espeak-ng/espeak_ng.h>

#include <atomic>

namespace beta500::dubbing {
namespace {

// espeak-ng names voices by ISO 639-1 codes.
const std::map<std::string, std::string, std::less<>> kVoices = {
    {"cat", "ca"}, {"deu", "de"}, {"eng", "en-us"}, {"epo", "eo"}, {"fra", "fr"},
    {"glg", "gl"}, {"ita", "it"}, {"nld", "nl"},    {"por", "pt"}, {"spa", "es"},
};

int Collect(short* samples, int count, espeak_EVENT* events) {
    auto* out = static_cast<std::vector<int16_t>*>(events->user_data);
    if (samples != nullptr && count > 0) {
        out->insert(out->end(), samples, samples + count);
    }
    return 0;  // go on
}

}  // namespace

Result<std::unique_ptr<EspeakSynthesizer>> EspeakSynthesizer::Load(const std::vector<std::string>& languages) {
    static std::atomic<bool> loaded{false};
    if (loaded.exchange(true)) {
        return Error{ErrorCode::kFailedPrecondition, "espeak-ng is initialized once per process"};
    }
    std::unique_ptr<EspeakSynthesizer> synthesizer(new EspeakSynthesizer());
    espeak_ng_InitializePath(nullptr);
    if (espeak_ng_Initialize(nullptr) != ENS_OK ||
        espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, nullptr) != ENS_OK) {
        return Error{ErrorCode::kFailedPrecondition, "espeak-ng did not start: is espeak-ng-data installed?"};
    }
    espeak_SetSynthCallback(Collect);
    synthesizer->rate_ = espeak_ng_GetSampleRate();
    for (const auto& language : languages) {
        const auto voice = kVoices.find(language);
        if (voice != kVoices.end() && espeak_ng_SetVoiceByName(voice->second.c_str()) == ENS_OK) {
            synthesizer->voices_.emplace(language, voice->second);
        }
    }
    return synthesizer;
}

bool EspeakSynthesizer::Speaks(std::string_view language) const { return voices_.contains(language); }

Result<std::vector<int16_t>> EspeakSynthesizer::Synthesize(std::string_view language, std::string_view text) {
    const auto voice = voices_.find(language);
    if (voice == voices_.end()) {
        return Error{ErrorCode::kInvalidArgument, "no voice for this language"};
    }
    std::vector<int16_t> speech;
    const std::string terminated(text);
    std::lock_guard lock(mutex_);
    if (espeak_ng_SetVoiceByName(voice->second.c_str()) != ENS_OK ||
        espeak_ng_Synthesize(terminated.c_str(), terminated.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                             nullptr, &speech) != ENS_OK) {
        return Error{ErrorCode::kInternal, "espeak-ng could not speak the text"};
    }
    return speech;
}

}  // namespace beta500::dubbing
