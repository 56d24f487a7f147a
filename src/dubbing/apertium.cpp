#include "dubbing/apertium.h"

#include <apertium-lex-tools/lrx_processor.h>
#include <apertium/hmm.h>
#include <apertium/interchunk.h>
#include <apertium/postchunk.h>
#include <apertium/pretransfer.h>
#include <apertium/tagger_flags.h>
#include <apertium/transfer.h>
#include <lttoolbox/fst_processor.h>
#include <poll.h>
#include <unicode/ustdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include "core/log.h"

namespace beta500::dubbing {
namespace {

// A translation that takes longer than this has wedged its pipeline.
constexpr int kTimeoutMs = 10000;

// Splits a stage's command line as the shell would for apertium's mode files: words, and
// 'single-quoted' paths.
std::vector<std::string> Words(const std::string& command) {
    std::vector<std::string> words;
    std::string word;
    bool quoted = false;
    bool any = false;
    for (const char c : command) {
        if (c == '\'') {
            quoted = !quoted;
            any = true;
        } else if (!quoted && (c == ' ' || c == '\t' || c == '\n')) {
            if (any) {
                words.push_back(word);
            }
            word.clear();
            any = false;
        } else {
            word += c;
            any = true;
        }
    }
    if (any) {
        words.push_back(word);
    }
    return words;
}

FILE* OpenBinary(const std::string& path) {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        throw std::runtime_error("cannot open " + path);
    }
    return file;
}

std::unique_ptr<FSTProcessor> LoadFst(const std::string& path) {
    auto fst = std::make_unique<FSTProcessor>();
    FILE* file = OpenBinary(path);
    fst->load(file);
    std::fclose(file);
    return fst;
}

// A stage: runs over its input until end of file, answering every NUL with NUL and a flush.
using Stage = std::function<void(InputFile& in, UFILE* out, int in_fd)>;

// Builds a stage from one command of a mode file; throws on what it does not know.
Stage MakeStage(const std::vector<std::string>& words) {
    const std::string& program = words.at(0);
    std::vector<std::string> flags;
    std::vector<std::string> files;
    for (size_t i = 1; i < words.size(); ++i) {
        if (words[i] == "$2") {
            continue;  // the tagger's extra flags: none
        }
        (words[i].starts_with("-") || words[i] == "$1" ? flags : files).push_back(words[i]);
    }
    auto flag = [&](const char* name) { return std::find(flags.begin(), flags.end(), name) != flags.end(); };
    auto known = [&](std::initializer_list<const char*> allowed, size_t file_count) {
        for (const auto& f : flags) {
            if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return f == a; }) == allowed.end()) {
                throw std::runtime_error(program + ": unsupported flag " + f);
            }
        }
        if (files.size() != file_count) {
            throw std::runtime_error(program + ": expected " + std::to_string(file_count) + " files");
        }
    };
    if (program == "lt-proc") {
        known({"-b", "-g", "-n", "-p", "$1", "-w"}, 1);
        std::shared_ptr<FSTProcessor> fst = LoadFst(files[0]);
        fst->setNullFlush(true);
        if (flag("-w")) {
            fst->setDictionaryCaseMode(true);
        }
        if (flag("-b")) {
            fst->initBiltrans();
            return [fst](InputFile& in, UFILE* out, int) { fst->bilingual(in, out); };
        }
        if (flag("-p")) {
            fst->initPostgeneration();
            return [fst](InputFile& in, UFILE* out, int) { fst->postgeneration(in, out); };
        }
        if (flag("-g") || flag("-n") || flag("$1")) {
            // Generation without marks: unknown words and generation errors come out clean.
            fst->initGeneration();
            const GenerationMode mode = flag("-g") ? gm_unknown : gm_clean;
            return [fst, mode](InputFile& in, UFILE* out, int) { fst->generation(in, out, mode); };
        }
        fst->initAnalysis();
        return [fst](InputFile& in, UFILE* out, int) { fst->analysis(in, out); };
    }
    if (program == "apertium-tagger") {
        known({"-g"}, 1);
        Apertium::TaggerFlags tagger_flags;
        tagger_flags.setNullFlush(true);
        auto hmm = std::make_shared<HMM>(tagger_flags);
        FILE* file = OpenBinary(files[0]);
        hmm->deserialise(file);
        std::fclose(file);
        // The tagger reads a file by name; its input pipe has one under /proc.
        return [hmm](InputFile&, UFILE* out, int in_fd) {
            const std::string path = "/proc/self/fd/" + std::to_string(in_fd);
            static_cast<Apertium::FILE_Tagger&>(*hmm).tagger(path.c_str(), out);
        };
    }
    if (program == "apertium-pretransfer") {
        known({}, 0);
        return [](InputFile& in, UFILE* out, int) { processStream(in, out, true, false, false); };
    }
    if (program == "apertium-transfer") {
        known({"-b", "-n"}, flag("-b") || flag("-n") ? 2 : 3);
        auto transfer = std::make_shared<Transfer>();
        transfer->read(files[0], files[1], files.size() == 3 ? files[2] : "");
        if (flag("-b")) {
            transfer->setPreBilingual(true);
        }
        transfer->setUseBilingual(files.size() == 3);
        transfer->setNullFlush(true);
        return [transfer](InputFile& in, UFILE* out, int) { transfer->transfer(in, out); };
    }
    if (program == "lrx-proc") {
        known({"-m"}, 1);
        auto lrx = std::make_shared<LRXProcessor>();
        FILE* file = OpenBinary(files[0]);
        lrx->load(file);
        std::fclose(file);
        lrx->init();
        lrx->setNullFlush(true);
        return [lrx](InputFile& in, UFILE* out, int) { lrx->process(in, out); };
    }
    if (program == "apertium-interchunk") {
        known({}, 2);
        auto interchunk = std::make_shared<Interchunk>();
        interchunk->read(files[0].c_str(), files[1].c_str());
        interchunk->setNullFlush(true);
        return [interchunk](InputFile& in, UFILE* out, int) { interchunk->interchunk(in, out); };
    }
    if (program == "apertium-postchunk") {
        known({}, 2);
        auto postchunk = std::make_shared<Postchunk>();
        postchunk->read(files[0].c_str(), files[1].c_str());
        postchunk->setNullFlush(true);
        return [postchunk](InputFile& in, UFILE* out, int) { postchunk->postchunk(in, out); };
    }
    throw std::runtime_error("unsupported program " + program);
}

// Apertium's stream format gives these characters meaning; plain text escapes them.
bool Special(char c) {
    return std::string_view("\\[]^$/@<>{}*#~").find(c) != std::string_view::npos;
}

}  // namespace

class ApertiumTranslator::Pipeline {
   public:
    Pipeline(std::string pair, const std::vector<Stage>& stages) : pair_(std::move(pair)) {
        int previous_read = -1;
        for (size_t i = 0; i <= stages.size(); ++i) {
            int fds[2];
            B5_ASSERT(pipe2(fds, O_CLOEXEC) == 0, "pipe2 failed");
            if (i == 0) {
                input_ = fds[1];
            } else {
                const Stage stage = stages[i - 1];
                const int in_fd = previous_read;
                const int out_fd = fds[1];
                threads_.emplace_back([stage, in_fd, out_fd] {
                    InputFile in;
                    in.wrap(fdopen(in_fd, "r"));
                    UFILE* out = u_fadopt(fdopen(out_fd, "w"), nullptr, "UTF-8");
                    stage(in, out, in_fd);
                    u_fclose(out);  // closes the pipe: the next stage sees the end
                });
            }
            previous_read = fds[0];
        }
        output_ = previous_read;
    }

    ~Pipeline() {
        ::close(input_);  // each stage ends in turn
        for (auto& thread : threads_) {
            // A pipeline that stopped answering may never end: left to the process's exit.
            broken_ ? thread.detach() : thread.join();
        }
        ::close(output_);
    }

    Result<std::string> Translate(std::string_view text) {
        std::string request;
        for (const char c : text) {
            if (c == '\0' || c == '\n' || c == '\r') {
                request += ' ';
                continue;
            }
            if (Special(c)) {
                request += '\\';
            }
            request += c;
        }
        // A blank before the NUL: some stages pass a NUL on (and flush) only between words.
        request += "\n";
        request += '\0';
        std::lock_guard lock(mutex_);
        if (broken_) {
            return Error{ErrorCode::kUnavailable, "the translator stopped answering"};
        }
        for (size_t done = 0; done < request.size();) {
            const ssize_t n = ::write(input_, request.data() + done, request.size() - done);
            if (n <= 0) {
                return Broken("its input pipe closed");
            }
            done += static_cast<size_t>(n);
        }
        std::string reply;
        char buffer[4096];
        while (true) {
            pollfd ready{output_, POLLIN, 0};
            if (::poll(&ready, 1, kTimeoutMs) != 1) {
                return Broken("no answer within 10 s");
            }
            const ssize_t n = ::read(output_, buffer, sizeof buffer);
            if (n <= 0) {
                return Broken("its output pipe closed");
            }
            reply.append(buffer, static_cast<size_t>(n));
            if (reply.back() == '\0') {
                break;
            }
        }
        // Stages answer a NUL with a NUL of their own; the text is what precedes the first.
        reply.resize(reply.find('\0'));
        std::string text_out;
        for (size_t i = 0; i < reply.size(); ++i) {
            if (reply[i] == '\\' && i + 1 < reply.size()) {
                ++i;
            }
            text_out += reply[i];
        }
        const auto first = text_out.find_first_not_of(" \n");
        const auto last = text_out.find_last_not_of(" \n");
        return first == std::string::npos ? std::string() : text_out.substr(first, last - first + 1);
    }

   private:
    Error Broken(const char* why) {  // REQUIRES(mutex_)
        broken_ = true;
        spdlog::error("msg=\"apertium pair stopped answering; restart to recover\" pair={} why={}", pair_,
                      LogQuote(why));
        return Error{ErrorCode::kUnavailable, "the translator stopped answering"};
    }

    const std::string pair_;
    int input_ = -1;
    int output_ = -1;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    bool broken_ = false;  // GUARDED_BY(mutex_)
};

Result<std::unique_ptr<ApertiumTranslator>> ApertiumTranslator::Load(const std::string& modes_dir) {
    std::unique_ptr<ApertiumTranslator> translator(new ApertiumTranslator());
    // ISO 639-3 codes, as the synthesizer's voices are keyed; variants such as spa-eng_US are not
    // pairs of their own.
    static const std::regex kPair("[a-z]{3}-[a-z]{3}");
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(modes_dir, error)) {
        const std::string pair = entry.path().stem().string();
        if (entry.path().extension() != ".mode" || !std::regex_match(pair, kPair)) {
            continue;
        }
        std::ifstream file(entry.path());
        std::stringstream mode;
        mode << file.rdbuf();
        try {
            std::vector<Stage> stages;
            std::stringstream commands(mode.str());
            for (std::string command; std::getline(commands, command, '|');) {
                stages.push_back(MakeStage(Words(command)));
            }
            translator->pipelines_[pair] = std::make_unique<Pipeline>(pair, stages);
        } catch (const std::exception& e) {
            spdlog::warn("msg=\"apertium pair skipped\" pair={} error={}", pair, LogQuote(e.what()));
        }
    }
    if (translator->pipelines_.empty()) {
        return Error{ErrorCode::kFailedPrecondition, "no apertium language pair is installed in " + modes_dir};
    }
    return translator;
}

ApertiumTranslator::~ApertiumTranslator() = default;

std::vector<std::string> ApertiumTranslator::pairs() const {
    std::vector<std::string> pairs;
    for (const auto& [pair, pipeline] : pipelines_) {
        pairs.push_back(pair);
    }
    return pairs;
}

Result<std::string> ApertiumTranslator::Translate(std::string_view pair, std::string_view text) {
    const auto found = pipelines_.find(pair);
    if (found == pipelines_.end()) {
        return Error{ErrorCode::kInvalidArgument, "unsupported language pair"};
    }
    if (text.size() > kTextBytesMax) {
        return Error{ErrorCode::kInvalidArgument, "text too long"};
    }
    return found->second->Translate(text);
}

}  // namespace beta500::dubbing
