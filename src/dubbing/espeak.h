// EspeakSynthesizer: speech from text with espeak-ng, at its one rate of 22,050 Hz. espeak-ng
// keeps global state, so the process has one synthesizer and it speaks one text at a time.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "dubbing/engines.h"

namespace beta500::dubbing {

class EspeakSynthesizer : public Synthesizer {
   public:
    // Initializes espeak-ng (once per process: a second Load is an error) and checks that the
    // voices of `languages` are installed; languages without a voice are left out.
    static Result<std::unique_ptr<EspeakSynthesizer>> Load(const std::vector<std::string>& languages);

    bool Speaks(std::string_view language) const override;
    int sample_rate() const override { return rate_; }
    Result<std::vector<int16_t>> Synthesize(std::string_view language, std::string_view text) override;

   private:
    EspeakSynthesizer() = default;
    int rate_ = 0;
    std::map<std::string, std::string, std::less<>> voices_;  // language -> espeak voice
    std::mutex mutex_;                                        // espeak-ng's global state
};

}  // namespace beta500::dubbing
