// OpenSSL's allocations inside an OpenSslKeyMemoryScope land in locked pages left out of core
// dumps, and are zeroed when freed; everything else stays in the ordinary heap. The AES-256-CMAC
// context of a RowSigner, whose key schedule begins with the key itself, is the reason.
#include "fls/common/openssl_key_memory.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include <cstring>
#include <thread>
#include <vector>

#include "fls/common/secret_bytes.h"
#include "fls/signing/row_signer.h"
#include "memory_maps.h"

namespace fls {
namespace {

// As in main: before anything in this process allocates through OpenSSL (this runs during
// static initialisation, ahead of every test).
const bool installed_first = install_openssl_key_memory();

TEST(OpenSslKeyMemory, InstallsBeforeOpenSslAllocatesAnything) {
  EXPECT_TRUE(installed_first);
  EXPECT_TRUE(openssl_key_memory_installed());
}

TEST(OpenSslKeyMemory, AllocationsInsideAScopeAreLockedAndLeftOutOfCoreDumps) {
  ASSERT_TRUE(installed_first);
  void* outside = OPENSSL_malloc(100);
  void* inside = nullptr;
  {
    const OpenSslKeyMemoryScope scope;
    inside = OPENSSL_malloc(100);
  }
  EXPECT_FALSE(in_openssl_key_memory(outside));
  ASSERT_TRUE(in_openssl_key_memory(inside));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(inside) % 16, 0u);
  const auto m = test::mapping_of(inside);
  EXPECT_TRUE(m.has_flag("dd")) << "VmFlags:" << m.vm_flags;
  EXPECT_FALSE(test::mapping_of(outside).has_flag("dd"));
  OPENSSL_free(inside);
  OPENSSL_free(outside);
}

TEST(OpenSslKeyMemory, FreedBlocksAreZeroed) {
  ASSERT_TRUE(installed_first);
  const OpenSslKeyMemoryScope scope;
  auto* p = static_cast<unsigned char*>(OPENSSL_malloc(64));
  ASSERT_TRUE(in_openssl_key_memory(p));
  std::memset(p, 0xab, 64);
  OPENSSL_free(p);
  // The arena stays mapped; what the block held is gone.
  for (int i = 0; i < 64; ++i) ASSERT_EQ(p[i], 0) << i;
}

TEST(OpenSslKeyMemory, TheScopeBelongsToOneThread) {
  ASSERT_TRUE(installed_first);
  const OpenSslKeyMemoryScope scope;
  void* elsewhere = nullptr;
  std::thread([&] { elsewhere = OPENSSL_malloc(32); }).join();
  EXPECT_FALSE(in_openssl_key_memory(elsewhere));
  OPENSSL_free(elsewhere);
}

TEST(OpenSslKeyMemory, ManyAndGrowingBlocksStayLockedAndAreAllReturned) {
  ASSERT_TRUE(installed_first);
  const std::size_t before = openssl_key_memory_in_use();
  std::vector<void*> blocks;
  {
    const OpenSslKeyMemoryScope scope;
    for (int i = 0; i < 300; ++i) blocks.push_back(OPENSSL_malloc(100 + 37 * i));  // several arenas
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_TRUE(in_openssl_key_memory(blocks[i])) << i;
    std::memset(blocks[i], static_cast<int>(i), 100);
  }
  EXPECT_GT(openssl_key_memory_in_use(), before);
  // Outside the scope, a locked block that grows stays locked and keeps its bytes.
  void* grown = OPENSSL_realloc(blocks[7], 20000);
  ASSERT_NE(grown, nullptr);
  EXPECT_TRUE(in_openssl_key_memory(grown));
  EXPECT_EQ(static_cast<unsigned char*>(grown)[99], 7);
  blocks[7] = grown;
  for (void* p : blocks) OPENSSL_free(p);
  EXPECT_EQ(openssl_key_memory_in_use(), before);
}

TEST(OpenSslKeyMemory, RowSignerKeepsNoCopyOfTheKeyInDumpableMemory) {
  ASSERT_TRUE(installed_first);
  SecretBytes key(RowSigner::kKeySize);
  randombytes_buf(key.data(), key.size());
  const std::size_t before = openssl_key_memory_in_use();
  {
    RowSigner signer(key);
    EXPECT_EQ(signer.sign_hex("message").size(), 32u);
    EXPECT_GT(openssl_key_memory_in_use(), before) << "the CMAC context is not in locked memory";
    // The key schedule starts with the key: without the scope it is in the heap (and this fails).
    EXPECT_FALSE(test::in_dumpable_memory(key.data(), key.size()));
    EXPECT_FALSE(test::in_dumpable_memory(key.data() + 16, 16));
  }
  EXPECT_EQ(openssl_key_memory_in_use(), before);
}

}  // namespace
}  // namespace fls
