#pragma once
// Bearer tokens (the admin's, the auditor's, and sidecar credentials'): kept and compared only
// as SHA-256 hashes, in constant time, so neither a token's bytes nor its length show in timing.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fls::kms {

using TokenHash = std::array<std::uint8_t, 32>;

TokenHash token_hash(std::string_view token);
bool same_hash(const TokenHash& a, const TokenHash& b);

// A new credential's token: 256 random bits as hex, with a prefix ("fls_") that makes a leaked
// one easy to spot.
std::string new_credential_token();

}  // namespace fls::kms
