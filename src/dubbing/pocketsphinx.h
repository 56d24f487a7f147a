// PocketsphinxRecognizer: English speech recognition with CMU pocketsphinx and its en-us model
// (Debian's pocketsphinx-en-us). Each stream gets its own decoder; decoders are made once (about
// 0.3 s each) and kept for the next stream, so a server makes at most as many as it ever runs at
// once.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "dubbing/engines.h"

struct ps_decoder_s;

namespace beta500::dubbing {

class PocketsphinxRecognizer : public Recognizer {
   public:
    // `model_dir` holds en-us/ (the acoustic model), en-us.lm.bin and cmudict-en-us.dict. Makes
    // one decoder now, so that a missing model fails at start-up.
    static Result<std::unique_ptr<PocketsphinxRecognizer>> Load(const std::string& model_dir);
    ~PocketsphinxRecognizer() override;

    std::string_view language() const override { return "eng"; }
    Result<std::unique_ptr<RecognizerStream>> Open() override;

    // Takes a decoder back for the next stream.
    void Return(ps_decoder_s* decoder);

   private:
    explicit PocketsphinxRecognizer(std::string model_dir) : model_dir_(std::move(model_dir)) {}
    Result<ps_decoder_s*> Make();

    const std::string model_dir_;
    std::mutex mutex_;
    std::vector<ps_decoder_s*> idle_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::dubbing
