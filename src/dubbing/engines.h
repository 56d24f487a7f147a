// The three stages of live dubbing, each behind its own interface so that a hosted engine can
// replace any of them: a recognizer turns speech into text, a translator text into text, a
// synthesizer text into speech. Languages are ISO 639-3 codes ("eng", "spa"), as apertium names
// its pairs ("eng-spa").
// Engines are shared by every session and thread-safe; a RecognizerStream serves one session
// from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace beta500::dubbing {

// Speech is PCM16 mono at this rate on the way in.
inline constexpr int kInputRate = 16000;

// One speaker's utterances, one at a time: Begin, Process any number of times, then End.
class RecognizerStream {
   public:
    virtual ~RecognizerStream() = default;
    virtual void Begin() = 0;
    virtual void Process(std::span<const int16_t> pcm) = 0;
    // The best guess so far within the utterance.
    virtual std::string Partial() = 0;
    // Ends the utterance: its final text (empty when nothing was recognized).
    virtual std::string End() = 0;
};

class Recognizer {
   public:
    virtual ~Recognizer() = default;
    // The language it understands.
    virtual std::string_view language() const = 0;
    // A stream with its own decoder, or an error when none can be made.
    virtual Result<std::unique_ptr<RecognizerStream>> Open() = 0;
};

class Translator {
   public:
    virtual ~Translator() = default;
    // The pairs it translates, as "src-tgt".
    virtual std::vector<std::string> pairs() const = 0;
    virtual Result<std::string> Translate(std::string_view pair, std::string_view text) = 0;
};

class Synthesizer {
   public:
    virtual ~Synthesizer() = default;
    virtual bool Speaks(std::string_view language) const = 0;
    // The rate of the speech it makes (PCM16 mono).
    virtual int sample_rate() const = 0;
    virtual Result<std::vector<int16_t>> Synthesize(std::string_view language, std::string_view text) = 0;
};

// Resamples PCM16 mono with soxr (high quality); `from == to` copies.
std::vector<int16_t> Resample(std::span<const int16_t> pcm, int from, int to);

}  // namespace beta500::dubbing
