#include "dubbing/pocketsphinx.h"

#include <err.h>
#include <pocketsphinx.h>

namespace beta500::dubbing {
namespace {

class PocketsphinxStream : public RecognizerStream {
   public:
    PocketsphinxStream(PocketsphinxRecognizer& owner, ps_decoder_t* decoder) : owner_(owner), decoder_(decoder) {}
    ~PocketsphinxStream() override {
        if (in_utterance_) {
            ps_end_utt(decoder_);
        }
        owner_.Return(decoder_);
    }

    void Begin() override {
        ps_start_utt(decoder_);
        in_utterance_ = true;
    }
    void Process(std::span<const int16_t> pcm) override {
        ps_process_raw(decoder_, pcm.data(), pcm.size(), FALSE, FALSE);
    }
    std::string Partial() override { return Hypothesis(); }
    std::string End() override {
        ps_end_utt(decoder_);
        in_utterance_ = false;
        return Hypothesis();
    }

   private:
    std::string Hypothesis() {
        int32 score = 0;
        const char* text = ps_get_hyp(decoder_, &score);
        return text == nullptr ? std::string() : std::string(text);
    }

    PocketsphinxRecognizer& owner_;
    ps_decoder_t* const decoder_;
    bool in_utterance_ = false;
};

}  // namespace

Result<std::unique_ptr<PocketsphinxRecognizer>> PocketsphinxRecognizer::Load(const std::string& model_dir) {
    // The library logs to stderr through global state: silenced once, before any decoder exists.
    static std::once_flag quiet;
    std::call_once(quiet, [] { err_set_logfp(nullptr); });
    std::unique_ptr<PocketsphinxRecognizer> recognizer(new PocketsphinxRecognizer(model_dir));
    auto first = recognizer->Make();
    if (!first) {
        return first.error();
    }
    recognizer->idle_.push_back(*first);
    return recognizer;
}

PocketsphinxRecognizer::~PocketsphinxRecognizer() {
    for (ps_decoder_t* decoder : idle_) {
        ps_free(decoder);
    }
}

Result<ps_decoder_t*> PocketsphinxRecognizer::Make() {
    cmd_ln_t* config = cmd_ln_init(nullptr, ps_args(), TRUE,                                     //
                                   "-hmm", (model_dir_ + "/en-us").c_str(),                     //
                                   "-lm", (model_dir_ + "/en-us.lm.bin").c_str(),               //
                                   "-dict", (model_dir_ + "/cmudict-en-us.dict").c_str(),       //
                                   "-samprate", "16000",                                        //
                                   nullptr);
    if (config == nullptr) {
        return Error{ErrorCode::kFailedPrecondition, "pocketsphinx refused its configuration"};
    }
    ps_decoder_t* decoder = ps_init(config);
    cmd_ln_free_r(config);  // the decoder keeps its own reference
    if (decoder == nullptr) {
        return Error{ErrorCode::kFailedPrecondition, "pocketsphinx found no usable model in " + model_dir_};
    }
    return decoder;
}

Result<std::unique_ptr<RecognizerStream>> PocketsphinxRecognizer::Open() {
    ps_decoder_t* decoder = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            decoder = idle_.back();
            idle_.pop_back();
        }
    }
    if (decoder == nullptr) {
        auto made = Make();
        if (!made) {
            return made.error();
        }
        decoder = *made;
    }
    return std::unique_ptr<RecognizerStream>(std::make_unique<PocketsphinxStream>(*this, decoder));
}

void PocketsphinxRecognizer::Return(ps_decoder_t* decoder) {
    std::lock_guard lock(mutex_);
    idle_.push_back(decoder);
}

}  // namespace beta500::dubbing
