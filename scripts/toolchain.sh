#!/usr/bin/env bash
# Makes sure a Rust toolchain (with rustfmt and clippy), a C compiler, make and perl are present.
# Sourced by scripts/up.sh and scripts/test.sh.
set -euo pipefail

# The workspace needs Rust 1.88 or newer (edition 2024).
RUST_MIN_MINOR=88

ensure_toolchain() {
  # cc for the crates that build C (ring, aws-lc-sys); perl and make for OpenSSL, which the
  # user-service builds from source (openssl-src, for passkey signatures).
  if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 \
    || ! perl -MFindBin -MFile::Compare -MIPC::Cmd -e1 >/dev/null 2>&1; then
    echo "==> installing a C compiler, make and perl (C and OpenSSL sources of some crates)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq build-essential perl pkg-config >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "==> installing Rust with rustup (stable, minimal profile)"
    command -v curl >/dev/null 2>&1 || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq curl >/dev/null; }
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  local minor
  minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
  if [ "$minor" -lt "$RUST_MIN_MINOR" ]; then
    echo "error: rustc 1.$minor is too old; this workspace needs 1.$RUST_MIN_MINOR+ (rustup update stable)" >&2
    exit 1
  fi
  if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  fi
}

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
