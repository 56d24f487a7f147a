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

}  // namespace beta500
