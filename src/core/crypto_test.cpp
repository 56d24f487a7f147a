// Proves SHA-256 matches a known vector and random tokens have the promised length and alphabet.
#include "core/crypto.h"

#include <gtest/gtest.h>

namespace beta500 {

TEST(Crypto, Sha256KnownVector) {
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, RandomTokensAreDistinctBase64Url) {
    const std::string first = RandomToken(32);
    const std::string second = RandomToken(32);
    EXPECT_EQ(first.size(), 43U);  // 256 bits in base64url without padding
    EXPECT_NE(first, second);
    EXPECT_EQ(first.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
}

TEST(Crypto, Base64UrlRoundTripsAndRefusesNonCanonicalText) {
    // RFC 4648 section 10 vectors, in the URL alphabet without padding.
    EXPECT_EQ(Base64UrlEncode(""), "");
    EXPECT_EQ(Base64UrlEncode("f"), "Zg");
    EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
    EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
    EXPECT_EQ(Base64UrlDecode("Zm9vYg"), "foob");
    EXPECT_EQ(Base64UrlDecode("-_8"), "\xfb\xff");
    EXPECT_FALSE(Base64UrlDecode("Zg=="));  // padding
    EXPECT_FALSE(Base64UrlDecode("Zh"));    // non-zero trailing bits
    EXPECT_FALSE(Base64UrlDecode("Z"));     // a lone sextet
    EXPECT_FALSE(Base64UrlDecode("Zm+v"));  // the standard alphabet
    EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm\0v", 4)));
}

// RFC 7636 appendix B: the S256 code challenge of the example verifier.
TEST(Crypto, PkceChallengeVector) {
    EXPECT_EQ(Base64UrlEncode(Sha256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")),
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

}  // namespace beta500
