#include "dubbing/pipeline.h"

#include <chrono>
#include <cmath>
#include <deque>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/log.h"

namespace beta500::dubbing {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = live::DubbingOutput::Kind;

constexpr int64_t kBytesPerMs = kInputRate * 2 / 1000;
// Preroll: the audio kept before an utterance starts, so that its first sounds are heard.
constexpr size_t kPrerollFrames = 20;
constexpr int64_t kStartFrames = 3;
// Synthesized audio goes out in messages of at most half a second.
constexpr int kChunksPerSecond = 2;
// A text waiting for the worker counts as this much audio against the backlog.
constexpr int64_t kTextBacklogMs = 1000;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<double> RtfBuckets() { return {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5}; }

}  // namespace

VoiceActivity::Event VoiceActivity::Push(std::span<const int16_t> frame) {
    double energy = 0;
    for (const int16_t sample : frame) {
        energy += static_cast<double>(sample) * sample;
    }
    const double rms = std::sqrt(energy / static_cast<double>(frame.size()));
    speech_ = rms > std::max(kMinRms, 3 * noise_);
    // The floor falls at once to a quieter frame and rises slowly with every louder one, speech
    // included: a room that gets louder for good is noise again within about ten seconds.
    noise_ = rms < noise_ ? rms : noise_ + 0.002 * (rms - noise_);
    if (!in_utterance_) {
        preroll_.insert(preroll_.end(), frame.begin(), frame.end());
        if (preroll_.size() > kPrerollFrames * kFrame) {
            preroll_.erase(preroll_.begin(), preroll_.begin() + static_cast<ptrdiff_t>(kFrame));
        }
        run_ = speech_ ? run_ + 1 : 0;
        if (run_ >= kStartFrames) {
            in_utterance_ = true;
            run_ = 0;
            frames_ = static_cast<int64_t>(preroll_.size() / kFrame);
            return Event::kStart;
        }
        return Event::kNone;
    }
    preroll_.clear();
    ++frames_;
    run_ = speech_ ? 0 : run_ + 1;
    if (run_ >= silence_frames_ || frames_ >= utterance_frames_max_) {
        in_utterance_ = false;
        run_ = 0;
        frames_ = 0;
        return Event::kEnd;
    }
    return Event::kNone;
}

struct PipelineEngine::Metrics {
    explicit Metrics(obs::Registry& registry)
        : recognize(Rtf(registry, "recognize")),
          translate(Rtf(registry, "translate")),
          synthesize(Rtf(registry, "synthesize")),
          total(Rtf(registry, "total")),
          latency(registry.GetHistogram("beta500_dubbing_segment_latency_seconds",
                                        "From the end of an utterance's speech to its first dubbed audio.",
                                        {0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10})),
          active(registry.GetGauge("beta500_dubbing_streams_active", "Dubbing streams running.")),
          refused(registry.GetCounter("beta500_dubbing_streams_refused_total",
                                      "Dubbing streams refused at dubbing.streams_max.")),
          segments(registry.GetCounter("beta500_dubbing_segments_total", "Utterances and texts dubbed.")),
          failures(registry.GetCounter("beta500_dubbing_failures_total",
                                       "Utterances and texts not dubbed: the translator or synthesizer failed.")) {}

    static obs::Histogram& Rtf(obs::Registry& registry, const char* stage) {
        return registry.GetHistogram("beta500_dubbing_real_time_factor",
                                     "Processing time over the audio's duration, per stage and in total.",
                                     RtfBuckets(), {{"stage", stage}});
    }

    obs::Histogram& recognize;
    obs::Histogram& translate;
    obs::Histogram& synthesize;
    obs::Histogram& total;
    obs::Histogram& latency;
    obs::Gauge& active;
    obs::Counter& refused;
    obs::Counter& segments;
    obs::Counter& failures;
};

struct PipelineEngine::Shared {
    struct Job {
        bool text = false;
        std::string data;
        Clock::time_point received;
    };

    Shared(live::StreamOptions stream_options, Emit output, int64_t backlog)
        : options(std::move(stream_options)), backlog_bytes(backlog), emit(std::move(output)) {}

    void Queue(Job job, int64_t bytes) {
        {
            std::lock_guard lock(mutex);
            if (closed) {
                return;
            }
            if (queued_bytes + bytes > backlog_bytes) {
                overloaded = true;
            } else {
                queued_bytes += bytes;
                jobs.push_back(std::move(job));
            }
        }
        ready.notify_one();
    }

    // No output after this returns.
    void Close() {
        {
            std::lock_guard lock(mutex);
            closed = true;
        }
        ready.notify_all();
        std::lock_guard lock(emit_mutex);
        emit = nullptr;
    }

    void Send(Kind kind, std::string data, std::string detail = {}) {
        std::lock_guard lock(emit_mutex);
        if (emit) {
            emit({kind, std::move(data), std::move(detail)});
        }
    }

    const live::StreamOptions options;
    const int64_t backlog_bytes;

    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Job> jobs;       // GUARDED_BY(mutex)
    int64_t queued_bytes = 0;   // GUARDED_BY(mutex)
    bool overloaded = false;    // GUARDED_BY(mutex)
    bool closed = false;        // GUARDED_BY(mutex)

    std::mutex emit_mutex;
    Emit emit;  // GUARDED_BY(emit_mutex)
};

namespace {

class PipelineStream : public live::DubbingStream {
   public:
    explicit PipelineStream(std::shared_ptr<PipelineEngine::Shared> shared) : shared_(std::move(shared)) {}
    ~PipelineStream() override { shared_->Close(); }

    void Audio(std::string_view pcm) override {
        shared_->Queue({false, std::string(pcm), Clock::now()}, static_cast<int64_t>(pcm.size()));
    }
    void Text(std::string_view text) override {
        shared_->Queue({true, std::string(text), Clock::now()}, kTextBacklogMs * kBytesPerMs);
    }

   private:
    std::shared_ptr<PipelineEngine::Shared> shared_;
};

// One stream's work, on its worker thread.
class Worker {
   public:
    // `recognizer` (null: text only) gives the stream its decoder at the first audio; without
    // one, audio is answered once with `speech_unavailable`.
    Worker(PipelineEngine::Shared& shared, Recognizer* recognizer, Translator& translator, Synthesizer& synthesizer,
           const PipelineConfig& config, PipelineEngine::Metrics& metrics)
        : shared_(shared),
          recognizer_engine_(recognizer),
          translator_(translator),
          synthesizer_(synthesizer),
          config_(config),
          metrics_(metrics),
          activity_(config.silence_ms, config.utterance_ms_max) {}

    void Run() {
        while (true) {
            std::optional<PipelineEngine::Shared::Job> job;
            bool overloaded = false;
            {
                std::unique_lock lock(shared_.mutex);
                shared_.ready.wait(lock, [&] {
                    return shared_.closed || shared_.overloaded || !shared_.jobs.empty();
                });
                if (shared_.closed) {
                    return;
                }
                overloaded = std::exchange(shared_.overloaded, false);
                if (!shared_.jobs.empty()) {
                    job = std::move(shared_.jobs.front());
                    shared_.jobs.pop_front();
                    shared_.queued_bytes -=
                        job->text ? kTextBacklogMs * kBytesPerMs : static_cast<int64_t>(job->data.size());
                }
            }
            if (overloaded) {
                shared_.Send(Kind::kError, "dubbing_overloaded",
                             "audio arrived faster than it could be dubbed; some was dropped");
            }
            if (job && job->text) {
                Speak(job->data, job->received, 0, 0);
            } else if (job) {
                Listen(*job);
            }
        }
    }

   private:
    void Listen(const PipelineEngine::Shared::Job& job) {
        if (!recognizer_ && recognizer_engine_ != nullptr) {
            // Made at the first audio, not at the start: a session that never speaks (or is
            // refused its credits) costs no decoder.
            auto opened = recognizer_engine_->Open();
            recognizer_engine_ = nullptr;
            if (opened) {
                recognizer_ = std::move(*opened);
            } else {
                no_speech_why_ = "speech recognition is unavailable: " + opened.error().message;
                spdlog::error("msg=\"recognizer not opened\" error={}", LogQuote(opened.error().message));
            }
        }
        if (!recognizer_) {
            if (!told_no_speech_) {
                told_no_speech_ = true;
                shared_.Send(Kind::kError, "speech_unavailable", no_speech_why_);
            }
            return;
        }
        const auto* samples = reinterpret_cast<const int16_t*>(job.data.data());
        pending_.insert(pending_.end(), samples, samples + job.data.size() / 2);
        size_t offset = 0;
        for (; offset + VoiceActivity::kFrame <= pending_.size(); offset += VoiceActivity::kFrame) {
            const std::span<const int16_t> frame(pending_.data() + offset, VoiceActivity::kFrame);
            const auto event = activity_.Push(frame);
            if (event == VoiceActivity::Event::kStart) {
                recognizer_->Begin();
                utterance_samples_ = 0;
                since_partial_ = 0;
                last_partial_.clear();
                asr_seconds_ = 0;
                Recognize(activity_.preroll());
            } else if (activity_.in_utterance() || event == VoiceActivity::Event::kEnd) {
                Recognize(frame);
            }
            if (activity_.speech()) {
                end_of_speech_ = job.received;
            }
            if (event == VoiceActivity::Event::kEnd) {
                const auto start = Clock::now();
                const std::string text = recognizer_->End();
                asr_seconds_ += Seconds(Clock::now() - start);
                const double audio_seconds = static_cast<double>(utterance_samples_) / kInputRate;
                metrics_.recognize.Observe(asr_seconds_ / audio_seconds);
                if (!text.empty()) {
                    shared_.Send(Kind::kTranscript, text);
                    Speak(text, end_of_speech_, audio_seconds, asr_seconds_);
                }
            } else if (activity_.in_utterance() && since_partial_ >= config_.partial_ms * kInputRate / 1000) {
                since_partial_ = 0;
                std::string partial = recognizer_->Partial();
                if (!partial.empty() && partial != last_partial_) {
                    last_partial_ = partial;
                    shared_.Send(Kind::kPartialTranscript, std::move(partial));
                }
            }
        }
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(offset));
    }

    void Recognize(std::span<const int16_t> pcm) {
        const auto start = Clock::now();
        recognizer_->Process(pcm);
        asr_seconds_ += Seconds(Clock::now() - start);
        utterance_samples_ += static_cast<int64_t>(pcm.size());
        since_partial_ += static_cast<int64_t>(pcm.size());
    }

    // Translates `text`, then speaks the translation. `heard` is when its speech ended (or the
    // text arrived); `audio_seconds` and `asr_seconds` describe the utterance it came from.
    void Speak(const std::string& text, Clock::time_point heard, double audio_seconds, double asr_seconds) {
        const auto& options = shared_.options;
        const auto start = Clock::now();
        auto translation = translator_.Translate(options.source + "-" + options.target, text);
        const auto translated = Clock::now();
        if (!translation) {
            metrics_.failures.Inc();
            shared_.Send(Kind::kError, "dubbing_failed", translation.error().message);
            return;
        }
        shared_.Send(Kind::kTranslation, *translation);
        if (translation->empty()) {
            return;
        }
        auto speech = synthesizer_.Synthesize(options.target, *translation);
        if (!speech) {
            metrics_.failures.Inc();
            shared_.Send(Kind::kError, "dubbing_failed", speech.error().message);
            return;
        }
        const std::vector<int16_t> audio = Resample(*speech, synthesizer_.sample_rate(), options.output_rate);
        const auto synthesized = Clock::now();
        metrics_.segments.Inc();
        if (!audio.empty()) {
            metrics_.synthesize.Observe(Seconds(synthesized - translated) * options.output_rate /
                                        static_cast<double>(audio.size()));
        }
        if (audio_seconds > 0) {
            metrics_.translate.Observe(Seconds(translated - start) / audio_seconds);
            metrics_.total.Observe((asr_seconds + Seconds(synthesized - start)) / audio_seconds);
        }
        const size_t chunk = static_cast<size_t>(options.output_rate / kChunksPerSecond);
        for (size_t offset = 0; offset < audio.size(); offset += chunk) {
            const size_t count = std::min(chunk, audio.size() - offset);
            shared_.Send(Kind::kAudio, std::string(reinterpret_cast<const char*>(audio.data() + offset), count * 2));
            if (offset == 0 && audio_seconds > 0) {
                metrics_.latency.Observe(Seconds(Clock::now() - heard));
            }
        }
    }

    PipelineEngine::Shared& shared_;
    Recognizer* recognizer_engine_;
    std::unique_ptr<RecognizerStream> recognizer_;
    std::string no_speech_why_ = "this session takes text only";
    Translator& translator_;
    Synthesizer& synthesizer_;
    const PipelineConfig& config_;
    PipelineEngine::Metrics& metrics_;
    VoiceActivity activity_;
    std::vector<int16_t> pending_;  // audio short of a whole frame
    int64_t utterance_samples_ = 0;
    int64_t since_partial_ = 0;
    double asr_seconds_ = 0;
    std::string last_partial_;
    Clock::time_point end_of_speech_;
    bool told_no_speech_ = false;
};

}  // namespace

PipelineEngine::PipelineEngine(Recognizer* recognizer, Translator& translator, Synthesizer& synthesizer,
                               PipelineConfig config, obs::Registry& metrics)
    : recognizer_(recognizer),
      translator_(translator),
      synthesizer_(synthesizer),
      config_(config),
      languages_(Offer(recognizer, translator, synthesizer)),
      metrics_(std::make_unique<Metrics>(metrics)) {}

PipelineEngine::~PipelineEngine() {
    std::unique_lock lock(mutex_);
    for (const auto& stream : streams_) {
        stream->Close();
    }
    idle_.wait(lock, [&] { return streams_.empty(); });
}

std::vector<live::LanguagePair> PipelineEngine::Offer(Recognizer* recognizer, Translator& translator,
                                                      Synthesizer& synthesizer) {
    std::vector<live::LanguagePair> pairs;
    for (const std::string& pair : translator.pairs()) {
        const auto dash = pair.find('-');
        live::LanguagePair language{pair.substr(0, dash), pair.substr(dash + 1), false};
        if (synthesizer.Speaks(language.target)) {
            language.speech = recognizer != nullptr && recognizer->language() == language.source;
            pairs.push_back(std::move(language));
        }
    }
    return pairs;
}

std::unique_ptr<live::DubbingStream> PipelineEngine::Open(const live::StreamOptions& options, Emit emit) {
    auto shared = std::make_shared<Shared>(options, std::move(emit), config_.backlog_ms * kBytesPerMs);
    {
        std::lock_guard lock(mutex_);
        if (static_cast<int64_t>(streams_.size()) >= config_.streams_max) {
            metrics_->refused.Inc();
            return nullptr;
        }
        streams_.insert(shared);
        metrics_->active.Set(static_cast<int64_t>(streams_.size()));
    }
    try {
        std::thread([this, shared] { Run(shared); }).detach();
    } catch (const std::system_error& e) {  // no thread to be had: refused like a full engine
        spdlog::error("msg=\"dubbing worker not started\" error={}", LogQuote(e.what()));
        std::lock_guard lock(mutex_);
        streams_.erase(shared);
        metrics_->active.Set(static_cast<int64_t>(streams_.size()));
        return nullptr;
    }
    return std::make_unique<PipelineStream>(shared);
}

void PipelineEngine::Run(std::shared_ptr<Shared> shared) {
    try {
        Worker(*shared, shared->options.speech ? recognizer_ : nullptr, translator_, synthesizer_, config_, *metrics_)
            .Run();
    } catch (const std::exception& e) {  // the stream ends; the process and its other streams go on
        spdlog::error("msg=\"dubbing stream failed\" error={}", LogQuote(e.what()));
        metrics_->failures.Inc();
        shared->Send(Kind::kError, "dubbing_failed", "dubbing stopped for this session");
    }  // the worker's decoder is back in the pool before the engine may be destroyed
    std::lock_guard lock(mutex_);
    streams_.erase(shared);
    metrics_->active.Set(static_cast<int64_t>(streams_.size()));
    idle_.notify_all();
}

}  // namespace beta500::dubbing
