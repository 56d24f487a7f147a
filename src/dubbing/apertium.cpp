#include "dubbing/apertium.h"

#include <apertium-lex-tools/lrx_processor.h>
#include <apertium/hmm.h>
#include <apertium/interchunk.h>
#include <apertium/postchunk.h>
#include <apertium/pretransfer.h>
#include <apertium/tagger_flags.h>
#include <apertium/transfer.h>
#include <fcntl.h>
#include <lttoolbox/fst_processor.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unicode/ustdio.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <system_error>
#include <thread>

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

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

File OpenBinary(const std::string& path) {
    File file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) {
        throw std::runtime_error("cannot open " + path);
    }
    return file;
}

std::unique_ptr<FSTProcessor> LoadFst(const std::string& path) {
    auto fst = std::make_unique<FSTProcessor>();
    fst->load(OpenBinary(path).get());
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
        hmm->deserialise(OpenBinary(files[0]).get());
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
        lrx->load(OpenBinary(files[0]).get());
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

// The stages a mode file describes, one per command between pipes.
std::vector<Stage> MakeStages(const std::string& mode) {
    std::vector<Stage> stages;
    std::stringstream commands(mode);
    for (std::string command; std::getline(commands, command, '|');) {
        stages.push_back(MakeStage(Words(command)));
    }
    return stages;
}

void BlockSigpipe(sigset_t* old) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, old);
}

// Writes all of `data`; false when the reader is gone. SIGPIPE is held back meanwhile (and one it
// raised is taken), so a stage that stopped is an error here, not the end of the process.
bool WriteAll(int fd, std::string_view data) {
    sigset_t old;
    BlockSigpipe(&old);
    bool written = true;
    for (size_t done = 0; done < data.size();) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            written = false;
            break;
        }
        done += static_cast<size_t>(n);
    }
    if (!written) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        const timespec now{};
        sigtimedwait(&pipe_only, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return written;
}

// Apertium's stream format gives these characters meaning; plain text escapes them.
bool Special(char c) {
    return std::string_view("\\[]^$/@<>{}*#~").find(c) != std::string_view::npos;
}

}  // namespace

// One pair's stages running, each on a thread, joined by pipes. Not thread-safe: its pair's
// mutex serializes the calls.
class ApertiumTranslator::Pipeline {
   public:
    // Throws when the stages cannot be started (no pipe or thread to be had).
    explicit Pipeline(const std::vector<Stage>& stages) {
        try {
            int previous_read = -1;
            for (size_t i = 0; i <= stages.size(); ++i) {
                int fds[2];
                if (pipe2(fds, O_CLOEXEC) != 0) {
                    throw std::system_error(errno, std::generic_category(), "pipe2");
                }
                if (i == 0) {
                    input_ = fds[1];
                } else {
                    Start(stages[i - 1], previous_read, fds[1]);
                }
                previous_read = fds[0];
            }
            output_ = previous_read;
        } catch (...) {
            Stop();
            throw;
        }
    }
    ~Pipeline() { Stop(); }

    bool broken() const { return broken_; }

    // The translation of `request` (escaped, ending in NUL), or why the pipeline broke.
    Result<std::string> Translate(const std::string& request) {
        if (!WriteAll(input_, request)) {
            return Broken("its input pipe closed");
        }
        std::string reply;
        char buffer[4096];
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
        while (reply.empty() || reply.back() != '\0') {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd ready{output_, POLLIN, 0};
            const int polled = ::poll(&ready, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
            if (polled < 0 && errno == EINTR) {
                continue;
            }
            if (polled != 1) {
                return Broken("no answer within 10 s");
            }
            const ssize_t n = ::read(output_, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return Broken("its output pipe closed");
            }
            reply.append(buffer, static_cast<size_t>(n));
        }
        return reply;
    }

   private:
    void Start(const Stage& stage, int in_fd, int out_fd) {
        threads_.emplace_back([stage, in_fd, out_fd] {
            sigset_t old;
            BlockSigpipe(&old);  // for the thread's life: a write to a stopped stage fails instead
            InputFile in;
            in.wrap(fdopen(in_fd, "r"));
            UFILE* out = u_fadopt(fdopen(out_fd, "w"), nullptr, "UTF-8");
            try {
                stage(in, out, in_fd);
            } catch (const std::exception& e) {  // malformed input or a library error
                spdlog::error("msg=\"apertium stage failed\" error={}", LogQuote(e.what()));
            }
            u_fclose(out);  // closes the pipe: the next stage sees the end, and so do we
        });
    }

    Error Broken(const char* why) {
        broken_ = true;
        spdlog::error("msg=\"apertium pair stopped answering; restarting it\" why={}", LogQuote(why));
        return Error{ErrorCode::kUnavailable, "the translator stopped answering"};
    }

    void Stop() {
        if (input_ >= 0) {
            ::close(input_);  // each stage ends in turn
        }
        for (auto& thread : threads_) {
            // A pipeline that stopped answering may never end: its threads are left to finish
            // (or to the process's exit) on their own.
            broken_ ? thread.detach() : thread.join();
        }
        if (output_ >= 0) {
            ::close(output_);
        }
    }

    int input_ = -1;
    int output_ = -1;
    std::vector<std::thread> threads_;
    bool broken_ = false;
};

// A pair: its mode file and the pipeline running it, made again when it breaks.
struct ApertiumTranslator::Pair {
    std::string mode;
    std::mutex mutex;
    std::unique_ptr<Pipeline> pipeline;  // GUARDED_BY(mutex)
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
            auto loaded = std::make_unique<Pair>();
            loaded->mode = mode.str();
            loaded->pipeline = std::make_unique<Pipeline>(MakeStages(loaded->mode));
            translator->pipelines_[pair] = std::move(loaded);
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

    Pair& loaded = *found->second;
    std::lock_guard lock(loaded.mutex);
    if (!loaded.pipeline || loaded.pipeline->broken()) {
        try {  // the broken one's threads are let go; a new one starts from the mode file
            loaded.pipeline.reset();
            loaded.pipeline = std::make_unique<Pipeline>(MakeStages(loaded.mode));
        } catch (const std::exception& e) {
            spdlog::error("msg=\"apertium pair not restarted\" pair={} error={}", found->first, LogQuote(e.what()));
            return Error{ErrorCode::kUnavailable, "the translator is unavailable"};
        }
    }
    auto reply = loaded.pipeline->Translate(request);
    if (!reply) {
        return reply.error();
    }
    // Stages answer a NUL with a NUL of their own; the text is what precedes the first.
    reply->resize(reply->find('\0'));
    std::string out;
    for (size_t i = 0; i < reply->size(); ++i) {
        if ((*reply)[i] == '\\' && i + 1 < reply->size()) {
            ++i;
        }
        out += (*reply)[i];
    }
    const auto first = out.find_first_not_of(" \n");
    const auto last = out.find_last_not_of(" \n");
    return first == std::string::npos ? std::string() : out.substr(first, last - first + 1);
}

}  // namespace beta500::dubbing
