#!/usr/bin/env bash
# Builds the playground into playground/dist/: the core compiled to wasm (size-optimised),
# its JavaScript bindings made by the wasm-bindgen CLI of the same version as the crate
# (installed when missing), and the page: its modules and CodeMirror 6 (from npm, at the
# versions in playground/web/package-lock.json) bundled by esbuild into one app.js.
# Needs Node.js and npm.
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
echo "== bundling the page (CodeMirror 6, esbuild)"
(cd playground/web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
rm -f playground/dist/meta.json
cp playground/web/index.html playground/web/style.css playground/web/worker.js playground/dist/

# Compressed copies for `scimap playground` to send to browsers that take them.
for file in playground/dist/*.wasm playground/dist/*.js playground/dist/*.css playground/dist/*.html; do
  gzip -9 -k -n -f "$file"
done
if command -v node >/dev/null; then
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    for (const file of process.argv.slice(1)) {
      const options = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } };
      fs.writeFileSync(file + ".br", zlib.brotliCompressSync(fs.readFileSync(file), options));
    }' playground/dist/*.wasm playground/dist/*.js playground/dist/*.css playground/dist/*.html
fi

raw=$(wc -c < playground/dist/scimap_bg.wasm)
gz=$(wc -c < playground/dist/scimap_bg.wasm.gz)
br=$( [ -f playground/dist/scimap_bg.wasm.br ] && wc -c < playground/dist/scimap_bg.wasm.br || echo "no")
echo "== playground/dist: wasm $raw bytes, $gz bytes gzipped, $br bytes with brotli"
js=$(wc -c < playground/dist/app.js)
jsgz=$(wc -c < playground/dist/app.js.gz)
echo "== playground/dist: app.js $js bytes, $jsgz bytes gzipped"
