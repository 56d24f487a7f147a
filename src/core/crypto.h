// Hashing and random tokens through OpenSSL (no hand-written crypto). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace beta500 {

// Lower-case hex SHA-256 of the bytes.
std::string Sha256Hex(std::string_view bytes);
// `bytes` bytes from the OpenSSL CSPRNG, encoded base64url without padding.
std::string RandomToken(size_t bytes);

}  // namespace beta500
