#include "live/dubbing.h"

namespace beta500::live {
namespace {

class PassthroughStream : public DubbingStream {
   public:
    void Audio(std::string_view pcm, const Emit& emit) override {
        emit({DubbingOutput::Kind::kAudio, std::string(pcm)});
    }
    void Text(std::string_view text, const Emit& emit) override {
        emit({DubbingOutput::Kind::kTranscript, std::string(text)});
        emit({DubbingOutput::Kind::kTranslation, std::string(text)});
    }
};

class PassthroughEngine : public DubbingEngine {
   public:
    std::string_view name() const override { return "passthrough"; }
    std::unique_ptr<DubbingStream> Open() override { return std::make_unique<PassthroughStream>(); }
};

}  // namespace

std::unique_ptr<DubbingEngine> MakePassthroughEngine() { return std::make_unique<PassthroughEngine>(); }

}  // namespace beta500::live
