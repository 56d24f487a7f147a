// PipelineEngine: live dubbing from three engines (engines.h). Each stream has its own worker
// thread, off the network threads: audio is cut into utterances by an energy voice-activity
// detector, recognized with partial results as it goes, and each final utterance (or text sent
// as text) is translated, synthesized and resampled to the stream's output rate.
// At most `streams_max` streams run at once; Open refuses more before any credit is held.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>

#include "dubbing/engines.h"
#include "live/dubbing.h"
#include "obs/metrics.h"

namespace beta500::dubbing {

struct PipelineConfig {
    int64_t streams_max = 4;
    // An utterance ends after this much silence, or at this length.
    int64_t silence_ms = 500;
    int64_t utterance_ms_max = 10000;
    // A partial transcript at most this often (audio time) within an utterance.
    int64_t partial_ms = 1000;
    // Audio waiting for the worker beyond this is dropped, with the error `dubbing_overloaded`.
    int64_t backlog_ms = 5000;
};

// Voice activity on 10 ms frames: a frame is speech when its RMS is above max(kMinRms,
// 3 x the noise floor); the floor drops at once to a quieter frame and rises slowly (0.2 % of
// the difference a frame) with louder ones, so lasting noise stops counting as speech. An utterance
// starts at 3 speech frames in a row (with 200 ms of audio before them) and ends after
// `silence_ms` of non-speech or at `utterance_ms_max`.
class VoiceActivity {
   public:
    static constexpr size_t kFrame = kInputRate / 100;
    static constexpr double kMinRms = 200;
    enum class Event { kNone, kStart, kEnd };
    VoiceActivity(int64_t silence_ms, int64_t utterance_ms_max)
        : silence_frames_(silence_ms / 10), utterance_frames_max_(utterance_ms_max / 10) {}
    // Classifies one frame. On kStart, `preroll()` holds the audio to recognize first (this
    // frame included); within an utterance every frame is to be recognized, the kEnd frame too.
    Event Push(std::span<const int16_t> frame);
    bool in_utterance() const { return in_utterance_; }
    const std::vector<int16_t>& preroll() const { return preroll_; }
    // Whether the last frame pushed was speech.
    bool speech() const { return speech_; }

   private:
    const int64_t silence_frames_;
    const int64_t utterance_frames_max_;
    double noise_ = 0;
    bool speech_ = false;
    bool in_utterance_ = false;
    int64_t run_ = 0;  // speech frames in a row (before), non-speech frames in a row (within)
    int64_t frames_ = 0;
    std::vector<int16_t> preroll_;
};

class PipelineEngine : public live::DubbingEngine {
   public:
    // `recognizer` may be null (text in only). Borrows the engines; they must outlive it.
    PipelineEngine(Recognizer* recognizer, Translator& translator, Synthesizer& synthesizer,
                   PipelineConfig config, obs::Registry& metrics);
    // Stops every stream's worker and waits for them.
    ~PipelineEngine() override;

    std::string_view name() const override { return "pipeline"; }
    std::vector<live::LanguagePair> languages() const override { return languages_; }
    std::vector<int> output_rates() const override { return {8000, 16000, 22050, 24000, 44100, 48000}; }
    std::unique_ptr<live::DubbingStream> Open(const live::StreamOptions& options, Emit emit) override;

    struct Metrics;
    struct Shared;

   private:
    // The pairs the synthesizer speaks the target of, with speech when the recognizer hears
    // the source; fixed once the engines are loaded.
    static std::vector<live::LanguagePair> Offer(Recognizer* recognizer, Translator& translator,
                                                 Synthesizer& synthesizer);
    void Run(std::shared_ptr<Shared> shared);

    Recognizer* const recognizer_;
    Translator& translator_;
    Synthesizer& synthesizer_;
    const PipelineConfig config_;
    const std::vector<live::LanguagePair> languages_;
    std::unique_ptr<Metrics> metrics_;

    std::mutex mutex_;
    std::condition_variable idle_;
    std::set<std::shared_ptr<Shared>> streams_;  // GUARDED_BY(mutex_): those with a live worker
};

}  // namespace beta500::dubbing
