// Proves ID-token verification on tokens signed here with OpenSSL keys: each algorithm accepted,
// each time check at its edge (exp, nbf, iat with skew and max age), key-set parsing that skips
// unusable keys, kid selection, and malformed tokens refused before any key is used.
#include "oidc/jwt.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/crypto.h"
#include "oidc/provider.h"

namespace beta500::oidc {
namespace {
namespace json = boost::json;

constexpr int64_t kNow = 1'800'000'000;

struct Key {
    std::shared_ptr<EVP_PKEY> pkey;
    std::string kid;
};

Key RsaKey(std::string kid, unsigned bits = 2048) {
    return {std::shared_ptr<EVP_PKEY>(EVP_RSA_gen(bits), EVP_PKEY_free), std::move(kid)};
}

Key EcKey(std::string kid) {
    return {std::shared_ptr<EVP_PKEY>(EVP_EC_gen("P-256"), EVP_PKEY_free), std::move(kid)};
}

std::string Bignum(const Key& key, const char* name) {
    BIGNUM* value = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key.pkey.get(), name, &value), 1);
    std::string bytes(static_cast<size_t>(BN_num_bytes(value)), '\0');
    BN_bn2bin(value, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(value);
    return Base64UrlEncode(bytes);
}

json::object Jwk(const Key& key) {
    if (EVP_PKEY_is_a(key.pkey.get(), "RSA")) {
        return {{"kty", "RSA"}, {"kid", key.kid}, {"n", Bignum(key, OSSL_PKEY_PARAM_RSA_N)},
                {"e", Bignum(key, OSSL_PKEY_PARAM_RSA_E)}};
    }
    unsigned char point[65];
    size_t length = 0;
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.pkey.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length), 1);
    const std::string raw(reinterpret_cast<char*>(point) + 1, length - 1);  // after the 0x04 prefix
    return {{"kty", "EC"}, {"kid", key.kid}, {"crv", "P-256"}, {"x", Base64UrlEncode(raw.substr(0, 32))},
            {"y", Base64UrlEncode(raw.substr(32))}};
}

KeySet Keys(std::initializer_list<json::object> jwks) {
    json::array keys;
    for (const auto& jwk : jwks) {
        keys.push_back(jwk);
    }
    return *KeySet::Parse(json::serialize(json::object{{"keys", keys}}));
}

std::string Sign(const Key& key, const std::string& alg, const std::string& input) {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    EVP_PKEY_CTX* key_context = nullptr;
    EVP_DigestSignInit(context, &key_context, EVP_sha256(), nullptr, key.pkey.get());
    if (alg == "PS256") {
        EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t length = 0;
    EVP_DigestSign(context, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string signature(length, '\0');
    EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    signature.resize(length);
    EVP_MD_CTX_free(context);
    if (alg != "ES256") {
        return signature;
    }
    // DER to the JWS form r || s.
    const unsigned char* der = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(parsed);
    return raw;
}

json::object Claims() {
    return {{"iss", "https://id.example"}, {"aud", "beta500"}, {"sub", "248289761001"},
            {"email", "ada@example.com"}, {"email_verified", true}, {"nonce", "n-0S6"},
            {"iat", kNow}, {"exp", kNow + 300}};
}

std::string Token(const Key& key, const json::object& claims, std::string alg = "RS256",
                  std::optional<std::string> kid = std::nullopt) {
    json::object header{{"alg", alg}, {"typ", "JWT"}};
    if (kid.value_or(key.kid) != "") {
        header["kid"] = kid.value_or(key.kid);
    }
    const std::string input =
        Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(claims));
    return input + "." + Base64UrlEncode(Sign(key, alg, input));
}

const Expectations kExpect{"https://id.example", "beta500", "n-0S6", kNow, 60, 600};

class JwtTest : public ::testing::Test {
   protected:
    Key rsa_ = RsaKey("r1");
    Key ec_ = EcKey("e1");
    KeySet keys_ = Keys({Jwk(rsa_), Jwk(ec_)});

    Refusal Check(const std::string& token, Expectations expect = kExpect) {
        return Verify(token, keys_, expect).refusal;
    }
    Refusal WithClaim(const char* name, json::value value) {
        json::object claims = Claims();
        claims[name] = std::move(value);
        return Check(Token(rsa_, claims));
    }
};

TEST_F(JwtTest, EachAllowedAlgorithmIsAccepted) {
    const Verdict verdict = Verify(Token(rsa_, Claims()), keys_, kExpect);
    ASSERT_EQ(verdict.refusal, Refusal::kNone) << verdict.reason;
    EXPECT_EQ(verdict.claims.subject, "248289761001");
    EXPECT_EQ(verdict.claims.email, "ada@example.com");
    EXPECT_TRUE(verdict.claims.email_verified);
    EXPECT_EQ(Check(Token(rsa_, Claims(), "PS256")), Refusal::kNone);
    EXPECT_EQ(Check(Token(ec_, Claims(), "ES256")), Refusal::kNone);
}

TEST_F(JwtTest, TimesAtTheirEdges) {
    // exp: valid while exp + skew > now.
    EXPECT_EQ(WithClaim("exp", kNow - 59), Refusal::kNone);
    EXPECT_EQ(WithClaim("exp", kNow - 60), Refusal::kClaims);
    // nbf and iat: not more than skew in the future.
    EXPECT_EQ(WithClaim("nbf", kNow + 60), Refusal::kNone);
    EXPECT_EQ(WithClaim("nbf", kNow + 61), Refusal::kClaims);
    EXPECT_EQ(WithClaim("iat", kNow + 60), Refusal::kNone);
    EXPECT_EQ(WithClaim("iat", kNow + 61), Refusal::kClaims);
    // iat: at most max_age in the past.
    EXPECT_EQ(WithClaim("iat", kNow - 600), Refusal::kNone);
    EXPECT_EQ(WithClaim("iat", kNow - 601), Refusal::kClaims);
    EXPECT_EQ(WithClaim("exp", "tomorrow"), Refusal::kClaims);
}

TEST_F(JwtTest, AudienceAndAuthorizedParty) {
    EXPECT_EQ(WithClaim("aud", json::array{"other", "beta500"}), Refusal::kClaims);  // no azp
    json::object claims = Claims();
    claims["aud"] = json::array{"other", "beta500"};
    claims["azp"] = "beta500";
    EXPECT_EQ(Check(Token(rsa_, claims)), Refusal::kNone);
    EXPECT_EQ(WithClaim("aud", json::array{"beta500"}), Refusal::kNone);
    EXPECT_EQ(WithClaim("aud", json::array{"beta500", 7}), Refusal::kClaims);
    EXPECT_EQ(WithClaim("azp", "other"), Refusal::kClaims);
    EXPECT_EQ(WithClaim("sub", json::string(std::string(256, 'x'))), Refusal::kClaims);
    EXPECT_EQ(WithClaim("sub", json::string(std::string(255, 'x'))), Refusal::kNone);
}

TEST_F(JwtTest, KeySelection) {
    // Without a kid, only a set of one key names its key.
    EXPECT_EQ(Check(Token(rsa_, Claims(), "RS256", "")), Refusal::kUnknownKey);
    const KeySet single = Keys({Jwk(rsa_)});
    EXPECT_EQ(Verify(Token(rsa_, Claims(), "RS256", ""), single, kExpect).refusal, Refusal::kNone);
    // The algorithm must fit the key: RS256 under the EC key's kid, and a key pinned to RS256.
    EXPECT_EQ(Check(Token(rsa_, Claims(), "RS256", "e1")), Refusal::kAlgorithm);
    json::object pinned = Jwk(rsa_);
    pinned["alg"] = "RS256";
    EXPECT_EQ(Verify(Token(rsa_, Claims(), "PS256"), Keys({pinned}), kExpect).refusal, Refusal::kAlgorithm);
    // Another key under a known kid fails the signature.
    EXPECT_EQ(Check(Token(RsaKey("r1"), Claims())), Refusal::kSignature);
}

TEST_F(JwtTest, KeySetSkipsWhatItCannotUse) {
    json::object encryption = Jwk(RsaKey("enc"));
    encryption["use"] = "enc";
    json::object off_curve = Jwk(EcKey("bad-ec"));
    off_curve["y"] = off_curve["x"];
    json::object wrong_curve = Jwk(EcKey("p384"));
    wrong_curve["crv"] = "P-384";
    const std::string document = json::serialize(json::object{
        {"keys", json::array{Jwk(RsaKey("small", 1024)), encryption, off_curve, wrong_curve, "junk",
                             json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}}, Jwk(rsa_)}}});
    const auto set = KeySet::Parse(document);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->size(), 1U);
    EXPECT_NE(set->Find(std::string("r1")), nullptr);
    EXPECT_FALSE(KeySet::Parse("{}"));
    EXPECT_FALSE(KeySet::Parse("not json"));
}

TEST_F(JwtTest, MalformedTokensAreRefusedBeforeAnyKeyIsUsed) {
    const std::string good = Token(rsa_, Claims());
    const auto dot = good.find('.');
    EXPECT_EQ(Check(good.substr(0, good.rfind('.'))), Refusal::kMalformed);         // two parts
    EXPECT_EQ(Check(good + ".x"), Refusal::kMalformed);                             // four parts
    EXPECT_EQ(Check("e30." + good.substr(dot + 1)), Refusal::kAlgorithm);           // header {}
    EXPECT_EQ(Check("!!!" + good.substr(dot)), Refusal::kMalformed);                // not base64url
    EXPECT_EQ(Check(Base64UrlEncode("[1]") + good.substr(dot)), Refusal::kMalformed);  // not an object
    EXPECT_EQ(Check(Base64UrlEncode(R"({"alg":"RS256","kid":7})") + good.substr(dot)), Refusal::kMalformed);
    EXPECT_EQ(Check(std::string(kTokenBytesMax + 1, 'a')), Refusal::kMalformed);
}

TEST(AllowedUrl, HttpsAnywherePlainHttpOnlyToLoopback) {
    for (const char* url : {"https://accounts.google.com/x", "http://127.0.0.1:9000/a", "http://127.1.2.3/",
                            "http://localhost:80/jwks", "http://localhost", "http://[::1]:8080/x"}) {
        EXPECT_TRUE(AllowedUrl(url)) << url;
    }
    for (const char* url : {"http://127.evil.com/", "http://localhost:@evil.com/", "http://localhost.evil.com/",
                            "http://user@127.0.0.1/", "http://127.0.0.1.evil.com/", "http://10.0.0.1/",
                            "http://[::1].evil.com/", "ftp://127.0.0.1/", "http://128.0.0.1/"}) {
        EXPECT_FALSE(AllowedUrl(url)) << url;
    }
}

}  // namespace
}  // namespace beta500::oidc
