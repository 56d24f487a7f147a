#include <soxr.h>

#include "dubbing/engines.h"

namespace beta500::dubbing {

std::vector<int16_t> Resample(std::span<const int16_t> pcm, int from, int to) {
    if (from == to || pcm.empty()) {
        return {pcm.begin(), pcm.end()};
    }
    std::vector<int16_t> out(pcm.size() * static_cast<size_t>(to) / static_cast<size_t>(from) + 64);
    size_t written = 0;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    const soxr_error_t error = soxr_oneshot(from, to, 1, pcm.data(), pcm.size(), nullptr, out.data(), out.size(),
                                            &written, &io, &quality, nullptr);
    B5_ASSERT(error == nullptr, "soxr refused a mono PCM16 conversion");
    out.resize(written);
    return out;
}

}  // namespace beta500::dubbing
