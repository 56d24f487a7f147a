// ID-token verification (RFC 7515/7517/7519, OpenID Connect Core 3.1.3.7): the JWKS key set and
// the checks a relying party makes before it believes a token. Pure functions over OpenSSL;
// thread-safe (a KeySet is immutable once parsed).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace beta500::oidc {

// A token larger than this is refused before it is decoded.
inline constexpr size_t kTokenBytesMax = 16 << 10;
// Algorithms a token may be signed with: asymmetric only, never "none" or HMAC (an HMAC keyed
// with the provider's public key is a forgery anyone can make).
inline constexpr std::string_view kAllowedAlgorithms[] = {"RS256", "PS256", "ES256"};


// One public key of a JWKS: RSA (at least 2048 bits) or EC P-256.
struct PublicKey {
    std::string kid;
    std::string kty;  // RSA or EC
    std::string alg;  // when the key names one
    std::shared_ptr<void> pkey;  // EVP_PKEY
};

// The keys of a JWKS document. Keys that are not for signatures, of another type or malformed
// are skipped (a provider may publish keys we cannot use).
class KeySet {
   public:
    static Result<KeySet> Parse(std::string_view jwks_json);
    // The key with this kid; without a kid, the only key there is.
    const PublicKey* Find(const std::optional<std::string>& kid) const;
    size_t size() const { return keys_.size(); }

   private:
    std::vector<PublicKey> keys_;
};

struct Expectations {
    std::string issuer;
    std::string client_id;
    std::string nonce;
    int64_t now_s = 0;
    int64_t skew_s = 60;        // allowed clock difference for exp, nbf and iat
    int64_t max_age_s = 600;    // a token issued longer ago than this is stale
};

struct Claims {
    std::string subject;
    std::string email;
    bool email_verified = false;
    std::string name;
};

// Why a token was refused; kUnknownKey asks the caller to refetch the JWKS once.
enum class Refusal { kNone, kMalformed, kAlgorithm, kUnknownKey, kSignature, kClaims };

struct Verdict {
    Refusal refusal = Refusal::kNone;
    std::string reason;  // for the log: names the check, never the token
    Claims claims;
};

// Verifies signature and claims: header `alg` in kAllowedAlgorithms and matching the key's type
// (header `jku`, `x5u`, `jwk` and `x5c` are never followed), no `crit`; `iss` equal, `aud`
// containing the client id, `azp` equal to it when present or when there are several audiences,
// `exp` in the future, `nbf` and `iat` not in the future, `iat` within max_age, `nonce` equal,
// `sub` present.
Verdict Verify(std::string_view token, const KeySet& keys, const Expectations& expect);

}  // namespace beta500::oidc
