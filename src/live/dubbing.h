// The dubbing engine interface: audio (PCM16LE mono 16 kHz) or text in; transcripts,
// translations and synthesized audio out. Engines plug in behind it: `pipeline`
// (src/dubbing: speech recognition, translation and speech synthesis) or `passthrough`, which
// echoes its input so that metering can be load-tested without speech models.
// An engine is shared and thread-safe. A stream serves one session: its calls return at once and
// its output arrives through `Emit`, possibly from another thread, until the stream is destroyed.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace beta500::live {

struct DubbingOutput {
    enum class Kind { kPartialTranscript, kTranscript, kTranslation, kAudio, kError };
    Kind kind = Kind::kTranscript;
    std::string data;    // text; PCM16LE mono audio at the stream's output rate; an error code
    std::string detail;  // an error's explanation
};

// What a session asks for, from the WebSocket's query (docs/websocket.md).
struct StreamOptions {
    std::string source = "eng";  // ISO 639-3
    std::string target = "spa";
    bool speech = true;  // audio in; false: text in only (subtitles), no recognizer
    int output_rate = 16000;
};

// A language pair an engine offers; `speech` when it also takes audio in that source language.
struct LanguagePair {
    std::string source;
    std::string target;
    bool speech = false;
};

class DubbingStream {
   public:
    virtual ~DubbingStream() = default;
    virtual void Audio(std::string_view pcm) = 0;
    virtual void Text(std::string_view text) = 0;
};

class DubbingEngine {
   public:
    using Emit = std::function<void(DubbingOutput)>;
    virtual ~DubbingEngine() = default;
    virtual std::string_view name() const = 0;
    virtual std::vector<LanguagePair> languages() const = 0;
    virtual std::vector<int> output_rates() const = 0;
    // A stream, or nullptr when the engine already serves as many streams as it may.
    // `options` must be among languages() and output_rates().
    virtual std::unique_ptr<DubbingStream> Open(const StreamOptions& options, Emit emit) = 0;
};

// Text longer than this (bytes of UTF-8) in one message is refused (`text_too_long`): a subtitle
// line, not a document; its speech (about 30 s at most) goes out in a few dozen messages.
inline constexpr size_t kTextBytesMax = 500;

// Why `options` cannot be served, or nullopt when they can.
std::optional<std::string> Unsupported(const DubbingEngine& engine, const StreamOptions& options);

// Audio comes back as is; text comes back as its own transcript and translation.
std::unique_ptr<DubbingEngine> MakePassthroughEngine();

}  // namespace beta500::live
