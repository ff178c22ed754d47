#!/usr/bin/env bash
# Runs every fuzz target for a fixed time (default 60 s each) with libFuzzer, on the
# stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its flags; no sanitizer,
# since stable Rust ships none). Each target starts from fuzz/seeds/<target> and grows
# fuzz/corpus/<target> (not checked in). A crash or hang is written to
# fuzz/artifacts/<target>/; once fixed, copy it into fuzz/regressions/<target>/ so
# that `cargo test --test fuzz_regressions` replays it from then on.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(expression dotnet_regex scim_filter scim_path patch mapping records http)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)|SUMMARY|panicked|ERROR' || true
done
