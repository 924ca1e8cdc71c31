#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each briefly
# from its seed corpus, so the fuzzers never rot and shallow crashes surface
# in every test run. Long runs: build-fuzz/fuzz_X -max_total_time=600 seeds/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PGTANDEM_FUZZ_BUILD:-$root/build-fuzz}
secs=${PGTANDEM_FUZZ_SECONDS:-10}

CC=clang cmake -S "$root" -B "$build" -DPGTANDEM_FUZZ=ON -DPGTANDEM_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

failed=0
passed=0
for bin in "$build"/fuzz_*; do
  name=$(basename "$bin")
  corpus=$(mktemp -d)
  seeds="$root/tests/fuzz/seeds/$name"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  if (cd "$corpus" && "$bin" -max_total_time="$secs" -print_final_stats=0 "$corpus" \
        >"$corpus.log" 2>&1); then
    echo "PASS $name: $(grep -E '^Done' "$corpus.log" || true)"
    passed=$((passed + 1))
  else
    echo "FAIL $name:"
    tail -30 "$corpus.log"
    failed=$((failed + 1))
  fi
  rm -rf "$corpus" "$corpus.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
