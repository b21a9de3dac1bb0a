#!/usr/bin/env bash
# The dependency rules between the source folders, checked over the include lines and over the
# library graph of CMakeLists.txt. Prints each broken rule as file:line (or the library chain)
# and exits non-zero if there is one.
#
#   bash tests/architecture/check_dependencies.sh   (also registered with CTest as architecture_dependencies)
#
# Folders (src/<folder>, include/fls/<folder>) and what they may include from each other:
#   common                          only common
#   handover, pg                    only common and themselves (the neutral hand-over types; the
#                                   PostgreSQL floor both executables stand on)
#   intake, signing, protocol, kms  nothing from store, pg, kms_server or sidecar
#   store                           nothing from intake, kms, kms_server or sidecar
#   kms_server                      nothing from store, intake, kms (the sidecar's client) or sidecar
# A folder that does not exist is empty, and so breaks no rule.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

declare -A only=(
  [common]="common"
  [handover]="common handover"
  [pg]="common pg"
)
declare -A forbidden=(
  [intake]="store pg kms_server sidecar"
  [signing]="store pg kms_server sidecar"
  [protocol]="store pg kms_server sidecar"
  [kms]="store pg kms_server sidecar"
  [store]="intake kms kms_server sidecar"
  [kms_server]="store intake kms sidecar"
)

broken=0
fail() {
  echo "$1"
  broken=$((broken + 1))
}

allowed() {  # allowed <folder> <included folder>
  local folder="$1" target="$2" f
  if [[ -n "${only[$folder]+set}" ]]; then
    for f in ${only[$folder]}; do [[ "$f" == "$target" ]] && return 0; done
    return 1
  fi
  for f in ${forbidden[$folder]:-}; do [[ "$f" == "$target" ]] && return 1; done
  return 0
}

# --- include lines -------------------------------------------------------------------------
for folder in "${!only[@]}" "${!forbidden[@]}"; do
  dirs=()
  for dir in "src/${folder}" "include/fls/${folder}"; do [[ -d "$dir" ]] && dirs+=("$dir"); done
  ((${#dirs[@]})) || continue
  # file:line:text of every #include "fls/<x>/..." or <fls/<x>/...>
  while IFS= read -r hit; do
    [[ -n "$hit" ]] || continue
    target="$(sed -E 's|^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*["<]fls/([^/">]+)/.*|\1|' <<<"$hit")"
    if ! allowed "$folder" "$target"; then
      fail "${hit%%:#*}: ${folder} includes fls/${target}/ (${hit#*:*:})"
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]fls/[^/">]+/' "${dirs[@]}" || true)
done

# --- libraries ------------------------------------------------------------------------------
# target_link_libraries(<target> [PUBLIC|PRIVATE|INTERFACE] <lib>...) of the top CMakeLists.txt,
# as "target lib lib ...", one target per line (a target named twice has its lines joined).
declare -A links=()
while read -r target libs; do
  links[$target]="${links[$target]:-} ${libs}"
done < <(tr '\n' ' ' <CMakeLists.txt | grep -oE 'target_link_libraries\([^)]*\)' |
  sed -E 's/^target_link_libraries\(//; s/\)$//; s/\b(PUBLIC|PRIVATE|INTERFACE)\b//g')

# Every fls_ library `target` links, directly or through others, as "target -> via -> ... -> lib".
closure() {
  local start="$1" lib chain
  local -a todo=("$start")
  local -A seen=(["$start"]="$start")
  while ((${#todo[@]})); do
    local current="${todo[0]}"
    todo=("${todo[@]:1}")
    for lib in ${links[$current]:-}; do
      [[ "$lib" == fls_* && -z "${seen[$lib]+set}" ]] || continue
      seen[$lib]="${seen[$current]} -> ${lib}"
      todo+=("$lib")
    done
  done
  for lib in "${!seen[@]}"; do [[ "$lib" != "$start" ]] && echo "${seen[$lib]}"; done
}

# The library of each folder, and the executables standing on them.
declare -A library_of=(
  [common]=fls_common [handover]=fls_handover [pg]=fls_pg [intake]=fls_intake [signing]=fls_signing
  [kms]=fls_kms_client [store]=fls_store [kms_server]=fls_kms_server
)
declare -A folder_of=()
for folder in "${!library_of[@]}"; do folder_of[${library_of[$folder]}]="$folder"; done
folder_of[fls_kms_verdict]=kms_server
folder_of[fls-kms]=kms_server
folder_of[forensic-logging-sidecar]=sidecar
folder_of[fls_sidecar_migrations]=store

for target in "${!links[@]}"; do
  folder="${folder_of[$target]:-}"
  [[ -n "$folder" ]] || continue
  while IFS= read -r chain; do
    [[ -n "$chain" ]] || continue
    lib="${chain##* }"
    target_folder="${folder_of[$lib]:-}"
    [[ -n "$target_folder" && "$target_folder" != "$folder" ]] || continue
    if ! allowed "$folder" "$target_folder"; then
      fail "CMakeLists.txt: ${target} (${folder}) links ${lib} (${target_folder}): ${chain}"
    fi
  done < <(closure "$target")
done

if ((broken)); then
  echo "${broken} dependency rule(s) broken"
  exit 1
fi
echo "dependency rules hold"
