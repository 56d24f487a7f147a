// Hashing and random tokens through OpenSSL (no hand-written crypto). Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace beta500 {

// SHA-256 of the bytes, raw (32 bytes).
std::string Sha256(std::string_view bytes);
// Lower-case hex SHA-256 of the bytes.
std::string Sha256Hex(std::string_view bytes);
// `bytes` bytes from the OpenSSL CSPRNG, encoded base64url without padding.
std::string RandomToken(size_t bytes);
// base64url (RFC 4648 section 5) without padding; Decode refuses padding, other characters and
// non-canonical trailing bits.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace beta500
