#!/usr/bin/env bash
# Builds the playground into playground/dist/: the core compiled to wasm (size-optimised),
# its JavaScript bindings made by the wasm-bindgen CLI of the same version as the crate
# (installed when missing), and the static page.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p' | head -1)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "== installing wasm-bindgen-cli $version"
  cargo install wasm-bindgen-cli --version "$version"
fi
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true

echo "== building the wasm"
cargo build -p scimap-playground --lib --target wasm32-unknown-unknown --profile wasm --locked

rm -rf playground/dist
mkdir -p playground/dist
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir playground/dist --out-name scimap \
  target/wasm32-unknown-unknown/wasm/scimap_playground.wasm
cp playground/web/* playground/dist/

raw=$(wc -c < playground/dist/scimap_bg.wasm)
gz=$(gzip -9 -c playground/dist/scimap_bg.wasm | wc -c)
echo "== playground/dist: wasm $raw bytes, $gz bytes gzipped"
