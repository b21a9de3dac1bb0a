#!/usr/bin/env bash
# The C++ layout of the tree (.clang-format at the root), checked with clang-format-14 over every
# tracked .cc and .h under src/, include/, tests/, bench/ and examples/. Lists each file it would
# change and exits non-zero if there is one.
#
#   bash tests/format/check_format.sh         (also registered with CTest as format_check)
#   bash tests/format/check_format.sh --fix   formats those files in place
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
formatter="${CLANG_FORMAT:-clang-format-14}"
command -v "$formatter" >/dev/null || {
  echo "format: $formatter not found (scripts/setup.sh installs clang-format-14)" >&2
  exit 1
}

mapfile -t files < <(git ls-files -- 'src/*.cc' 'src/*.h' 'include/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' \
  'bench/*.h' 'examples/*.cc' 'examples/*.h')
if [[ "${1:-}" == --fix ]]; then
  "$formatter" -i "${files[@]}"
  exit 0
fi

unformatted=()
for file in "${files[@]}"; do
  "$formatter" --dry-run -Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done
if ((${#unformatted[@]})); then
  printf 'format: not as .clang-format lays it out: %s\n' "${unformatted[@]}"
  echo "format: bash tests/format/check_format.sh --fix formats them"
  exit 1
fi
echo "format: all ${#files[@]} files as .clang-format lays them out"
