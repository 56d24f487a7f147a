// ApertiumTranslator: apertium's rule-based translation run in-process. Each installed pair's
// mode file (`<modes_dir>/<src>-<tgt>.mode`, the pipeline the `apertium` command would run) is
// read once; its stages (lt-proc, apertium-tagger, -pretransfer, -transfer, lrx-proc,
// -interchunk, -postchunk) become library objects, each on its own thread, joined by pipes in
// apertium's null-flush protocol: a text goes in followed by NUL and its translation comes out
// followed by NUL. A pair translates one text at a time; pairs run in parallel. A pair that
// breaks is started again from its mode file at its next text.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "dubbing/engines.h"

namespace beta500::dubbing {

class ApertiumTranslator : public Translator {
   public:
    // Loads every pair in `modes_dir` whose name is "xxx-yyy" (two ISO 639-3 codes); a pair
    // whose mode uses a program this translator does not run is skipped. An error when no pair
    // loads.
    static Result<std::unique_ptr<ApertiumTranslator>> Load(const std::string& modes_dir);
    ~ApertiumTranslator() override;

    std::vector<std::string> pairs() const override;
    // At most kTextBytesMax bytes of UTF-8; markup characters are taken literally. A pair that
    // does not answer within 10 s (or whose stage failed) fails that call and is started again,
    // from its mode file, at the next.
    Result<std::string> Translate(std::string_view pair, std::string_view text) override;

    static constexpr size_t kTextBytesMax = 4096;
    class Pipeline;
    struct Pair;

   private:
    ApertiumTranslator() = default;
    std::map<std::string, std::unique_ptr<Pair>, std::less<>> pipelines_;
};

}  // namespace beta500::dubbing
