#include "fls/common/process_hardening.h"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "fls/common/openssl_key_memory.h"

namespace fls {

bool harden_process(bool allow_core_dumps, const char* setting) {
  if (!install_openssl_key_memory()) {
    // Only possible if something used OpenSSL before main called this.
    spdlog::warn(
        "OpenSSL allocated memory before its key contexts could be routed to locked memory; "
        "they stay in ordinary heap memory");
  }
  if (allow_core_dumps) {
    spdlog::warn(
        "{}=true: this process can be dumped and may write core files; key material it holds "
        "outside locked memory may end up in them. Not for production.",
        setting);
    return true;
  }
  bool ok = true;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    spdlog::error("cannot make the process non-dumpable (prctl PR_SET_DUMPABLE): {}", std::strerror(errno));
    ok = false;
  }
  const rlimit no_core{0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
    spdlog::error("cannot set the core file size limit to 0 (setrlimit RLIMIT_CORE): {}", std::strerror(errno));
    ok = false;
  }
  return ok;
}

}  // namespace fls
