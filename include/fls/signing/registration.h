#pragma once
// The keys the KMS hands out for one registration; they live in memory only.
#include <string>

#include "fls/common/secret_bytes.h"
#include "fls/signing/batch_signer.h"

namespace fls {

struct Registration {
  std::string sidecar_id;
  SecretBytes row_key;  // 32 bytes, AES-256-CMAC
  BatchSigner batch_signer;
};

}  // namespace fls
