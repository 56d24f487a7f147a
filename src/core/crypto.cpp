#include "core/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

#include "core/assert.h"

namespace beta500 {

std::string Sha256(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    const int ok = EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
    B5_ASSERT(ok == 1, "EVP_Digest failed");
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Sha256Hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char byte : Sha256(bytes)) {
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xF]);
    }
    return out;
}

namespace {
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kBase64Url[(buffer >> bits) & 0x3F]);
        }
    }
    if (bits > 0) {
        out.push_back(kBase64Url[(buffer << (6 - bits)) & 0x3F]);
    }
    return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t buffer = 0;
    int bits = 0;
    for (char ch : text) {
        const char* at = std::strchr(kBase64Url, ch);
        if (ch == '\0' || at == nullptr) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<uint32_t>(at - kBase64Url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    // Leftover bits must be zero padding of a canonical encoding (one text, one meaning).
    if (bits >= 6 || (buffer & ((1u << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

std::string RandomToken(size_t bytes) {
    std::string raw(bytes, '\0');
    B5_ASSERT(RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) == 1,
              "RAND_bytes failed");
    return Base64UrlEncode(raw);
}

}  // namespace beta500
