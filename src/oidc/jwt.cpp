#include "oidc/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <boost/json.hpp>

#include "core/crypto.h"

namespace beta500::oidc {
namespace json = boost::json;
namespace {

constexpr int kRsaBitsMin = 2048;
constexpr size_t kP256CoordinateBytes = 32;

std::shared_ptr<void> Own(EVP_PKEY* key) {
    return std::shared_ptr<void>(key, [](void* pointer) { EVP_PKEY_free(static_cast<EVP_PKEY*>(pointer)); });
}

// Builds a public key from OpenSSL parameters (OpenSSL 3 "fromdata").
EVP_PKEY* FromParams(const char* type, OSSL_PARAM_BLD* builder) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder);
    EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    EVP_PKEY* key = nullptr;
    if (params == nullptr || context == nullptr || EVP_PKEY_fromdata_init(context) != 1 ||
        EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = nullptr;
    }
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(params);
    return key;
}

std::optional<std::string> Member(const json::object& object, std::string_view name) {
    const auto* value = object.if_contains(name);
    if (value == nullptr || !value->is_string()) {
        return std::nullopt;
    }
    return std::string(value->as_string());
}

// A base64url member, decoded.
std::optional<std::string> BytesMember(const json::object& object, std::string_view name) {
    const auto text = Member(object, name);
    return text ? Base64UrlDecode(*text) : std::nullopt;
}

std::shared_ptr<void> RsaKey(const json::object& jwk) {
    const auto n = BytesMember(jwk, "n");
    const auto e = BytesMember(jwk, "e");
    if (!n || !e || n->empty() || e->empty()) {
        return nullptr;
    }
    BIGNUM* modulus = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
    BIGNUM* exponent = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
    OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
    EVP_PKEY* key = nullptr;
    if (modulus != nullptr && exponent != nullptr && builder != nullptr &&
        BN_num_bits(modulus) >= kRsaBitsMin &&
        OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, modulus) == 1 &&
        OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, exponent) == 1) {
        key = FromParams("RSA", builder);
    }
    OSSL_PARAM_BLD_free(builder);
    BN_free(modulus);
    BN_free(exponent);
    return key == nullptr ? nullptr : Own(key);
}

std::shared_ptr<void> EcKey(const json::object& jwk) {
    const auto x = BytesMember(jwk, "x");
    const auto y = BytesMember(jwk, "y");
    if (Member(jwk, "crv") != "P-256" || !x || !y || x->size() != kP256CoordinateBytes ||
        y->size() != kP256CoordinateBytes) {
        return nullptr;
    }
    const std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
    OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
    EVP_PKEY* key = nullptr;
    if (builder != nullptr &&
        OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1) {
        key = FromParams("EC", builder);  // fails for a point off the curve
    }
    OSSL_PARAM_BLD_free(builder);
    return key == nullptr ? nullptr : Own(key);
}

// JWS ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER.
std::optional<std::string> EcdsaDer(std::string_view raw) {
    if (raw.size() != 2 * kP256CoordinateBytes) {
        return std::nullopt;
    }
    ECDSA_SIG* signature = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), kP256CoordinateBytes, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + kP256CoordinateBytes,
                          kP256CoordinateBytes, nullptr);
    if (signature == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(signature, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(signature);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(signature, &der);
    ECDSA_SIG_free(signature);
    if (length <= 0) {
        return std::nullopt;
    }
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
    OPENSSL_free(der);
    return out;
}

bool SignatureValid(const PublicKey& key, std::string_view alg, std::string_view signed_part,
                    std::string_view signature) {
    std::string der;
    if (alg == "ES256") {
        auto converted = EcdsaDer(signature);
        if (!converted) {
            return false;
        }
        der = std::move(*converted);
        signature = der;
    }
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    EVP_PKEY_CTX* key_context = nullptr;
    bool valid = context != nullptr &&
                 EVP_DigestVerifyInit(context, &key_context, EVP_sha256(), nullptr,
                                      static_cast<EVP_PKEY*>(key.pkey.get())) == 1;
    if (valid && alg == "PS256") {
        valid = EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    valid = valid && EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                                      signature.size(),
                                      reinterpret_cast<const unsigned char*>(signed_part.data()),
                                      signed_part.size()) == 1;
    EVP_MD_CTX_free(context);
    return valid;
}

std::optional<json::object> DecodeObject(std::string_view part) {
    const auto text = Base64UrlDecode(part);
    if (!text) {
        return std::nullopt;
    }
    boost::system::error_code error;
    json::value value = json::parse(*text, error);
    if (error || !value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.as_object());
}

// A NumericDate claim: an integer (or a number with a fraction, truncated) number of seconds.
std::optional<int64_t> Seconds(const json::object& claims, std::string_view name) {
    const auto* value = claims.if_contains(name);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->as_int64();
    }
    if (value->is_double() && value->as_double() > 0 && value->as_double() < 1e12) {
        return static_cast<int64_t>(value->as_double());
    }
    return std::nullopt;
}

Verdict Refuse(Refusal refusal, std::string reason) { return Verdict{refusal, std::move(reason), {}}; }

}  // namespace

Result<KeySet> KeySet::Parse(std::string_view jwks_json) {
    boost::system::error_code error;
    json::value document = json::parse(jwks_json, error);
    if (error || !document.is_object() || !document.as_object().contains("keys") ||
        !document.at("keys").is_array()) {
        return Error{ErrorCode::kInvalidArgument, "the JWKS is not an object with a keys array"};
    }
    KeySet set;
    for (const auto& entry : document.at("keys").as_array()) {
        if (!entry.is_object()) {
            continue;
        }
        const json::object& jwk = entry.as_object();
        if (Member(jwk, "use").value_or("sig") != "sig") {
            continue;
        }
        PublicKey key{Member(jwk, "kid").value_or(""), Member(jwk, "kty").value_or(""),
                      Member(jwk, "alg").value_or(""), nullptr};
        key.pkey = key.kty == "RSA" ? RsaKey(jwk) : key.kty == "EC" ? EcKey(jwk) : nullptr;
        if (key.pkey != nullptr) {
            set.keys_.push_back(std::move(key));
        }
    }
    return set;
}

const PublicKey* KeySet::Find(const std::optional<std::string>& kid) const {
    if (!kid) {
        return keys_.size() == 1 ? &keys_.front() : nullptr;
    }
    const auto found = std::find_if(keys_.begin(), keys_.end(), [&](const PublicKey& key) { return key.kid == *kid; });
    return found == keys_.end() ? nullptr : &*found;
}

Verdict Verify(std::string_view token, const KeySet& keys, const Expectations& expect) {
    if (token.size() > kTokenBytesMax) {
        return Refuse(Refusal::kMalformed, "token too large");
    }
    const size_t first = token.find('.');
    const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return Refuse(Refusal::kMalformed, "not a compact JWS");
    }
    const auto header = DecodeObject(token.substr(0, first));
    const auto claims = DecodeObject(token.substr(first + 1, second - first - 1));
    const auto signature = Base64UrlDecode(token.substr(second + 1));
    if (!header || !claims || !signature) {
        return Refuse(Refusal::kMalformed, "undecodable header, claims or signature");
    }
    const std::string alg = Member(*header, "alg").value_or("");
    if (std::find(std::begin(kAllowedAlgorithms), std::end(kAllowedAlgorithms), alg) ==
        std::end(kAllowedAlgorithms)) {
        return Refuse(Refusal::kAlgorithm, "algorithm not allowed");
    }
    if (header->contains("crit")) {
        return Refuse(Refusal::kMalformed, "critical header extensions are not supported");
    }
    // jku, x5u, jwk and x5c would let the token name its own key: only the provider's JWKS counts.
    const auto* kid_value = header->if_contains("kid");
    if (kid_value != nullptr && !kid_value->is_string()) {
        return Refuse(Refusal::kMalformed, "kid is not a string");
    }
    const auto kid = Member(*header, "kid");
    const PublicKey* key = keys.Find(kid);
    if (key == nullptr) {
        return Refuse(Refusal::kUnknownKey, "no key with this kid");
    }
    const bool type_matches = alg == "ES256" ? key->kty == "EC" : key->kty == "RSA";
    if (!type_matches || (!key->alg.empty() && key->alg != alg)) {
        return Refuse(Refusal::kAlgorithm, "algorithm does not match the key");
    }
    if (!SignatureValid(*key, alg, token.substr(0, second), *signature)) {
        return Refuse(Refusal::kSignature, "bad signature");
    }

    if (Member(*claims, "iss") != expect.issuer) {
        return Refuse(Refusal::kClaims, "iss is not the provider");
    }
    const auto* aud = claims->if_contains("aud");
    std::vector<std::string> audiences;
    if (aud != nullptr && aud->is_string()) {
        audiences.emplace_back(aud->as_string());
    } else if (aud != nullptr && aud->is_array()) {
        for (const auto& item : aud->as_array()) {
            if (!item.is_string()) {
                return Refuse(Refusal::kClaims, "aud holds a non-string");
            }
            audiences.emplace_back(item.as_string());
        }
    }
    if (std::find(audiences.begin(), audiences.end(), expect.client_id) == audiences.end()) {
        return Refuse(Refusal::kClaims, "aud does not name this client");
    }
    const auto azp = Member(*claims, "azp");
    if ((audiences.size() > 1 || claims->contains("azp")) && azp != expect.client_id) {
        return Refuse(Refusal::kClaims, "azp is not this client");
    }
    const auto exp = Seconds(*claims, "exp");
    const auto iat = Seconds(*claims, "iat");
    const auto nbf = Seconds(*claims, "nbf");
    if (!exp || *exp + expect.skew_s <= expect.now_s) {
        return Refuse(Refusal::kClaims, "expired or no exp");
    }
    if (!iat || *iat - expect.skew_s > expect.now_s || *iat + expect.max_age_s < expect.now_s) {
        return Refuse(Refusal::kClaims, "iat missing, in the future or stale");
    }
    if (claims->contains("nbf") && (!nbf || *nbf - expect.skew_s > expect.now_s)) {
        return Refuse(Refusal::kClaims, "not yet valid");
    }
    if (expect.nonce.empty() || Member(*claims, "nonce") != expect.nonce) {
        return Refuse(Refusal::kClaims, "nonce missing or wrong");
    }
    Verdict verdict;
    verdict.claims.subject = Member(*claims, "sub").value_or("");
    if (verdict.claims.subject.empty() || verdict.claims.subject.size() > 255) {
        return Refuse(Refusal::kClaims, "sub missing or too long");
    }
    verdict.claims.email = Member(*claims, "email").value_or("");
    const auto* verified = claims->if_contains("email_verified");
    // Some providers send the flag as a string.
    verdict.claims.email_verified =
        verified != nullptr && ((verified->is_bool() && verified->as_bool()) ||
                                (verified->is_string() && verified->as_string() == "true"));
    verdict.claims.name = Member(*claims, "name").value_or("");
    return verdict;
}

}  // namespace beta500::oidc
