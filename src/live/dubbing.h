// The dubbing engine interface: audio (PCM16LE mono 16 kHz) or text in; transcript, translation
// and synthesized audio out. Engines plug in behind it; `passthrough` echoes its input so
// metering works end to end without speech models.
// An engine is shared and thread-safe; a stream serves one session, one call at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace beta500::live {

struct DubbingOutput {
    enum class Kind { kTranscript, kTranslation, kAudio };
    Kind kind = Kind::kTranscript;
    std::string data;  // text, or PCM16LE mono 16 kHz audio
};

class DubbingStream {
   public:
    using Emit = std::function<void(DubbingOutput)>;
    virtual ~DubbingStream() = default;
    virtual void Audio(std::string_view pcm, const Emit& emit) = 0;
    virtual void Text(std::string_view text, const Emit& emit) = 0;
};

class DubbingEngine {
   public:
    virtual ~DubbingEngine() = default;
    virtual std::string_view name() const = 0;
    virtual std::unique_ptr<DubbingStream> Open() = 0;
};

// Audio comes back as is; text comes back as its own transcript and translation.
std::unique_ptr<DubbingEngine> MakePassthroughEngine();

}  // namespace beta500::live
