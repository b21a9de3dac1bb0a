#pragma once
// What a process that holds keys does first thing in main, before anything else touches
// OpenSSL: OpenSSL's key contexts go to locked memory (openssl_key_memory.h), and unless
// `allow_core_dumps` (a debug setting) the process is made non-dumpable (PR_SET_DUMPABLE 0: no
// core dump, no ptrace attach or /proc/<pid>/mem read by unprivileged processes of the same
// user) and its core size limit is set to 0, soft and hard, so it cannot be raised again.
namespace fls {

// `setting` names the debug variable in the log lines (e.g. "SIDE_DEBUG_CORE_DUMPS"). Logs a
// warning when core dumps stay allowed, and an error (returning false) if a step failed.
bool harden_process(bool allow_core_dumps, const char* setting);

}  // namespace fls
