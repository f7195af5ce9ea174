#!/usr/bin/env bash
# The fast kernels' tests built for aarch64 and run under qemu-user (issue 16: NEON kernels
# property-tested against the scalar reference): tests/kernels_prop.rs and the kernels' unit
# tests, once on `-cpu max` (NEON with the dot product: `Isa::NeonDot` is best) and once on
# `-cpu cortex-a72` (NEON without it: `Isa::Neon` is best, `Isa::NeonDot` unavailable).
# Needs the rust target aarch64-unknown-linux-gnu, qemu-aarch64 and aarch64-linux-gnu-gcc
# (the linker, and the C runtime qemu loads from /usr/aarch64-linux-gnu); it tries
# `rustup target add` and `apt-get install` when they are missing, and otherwise says why it
# skipped and exits 0. Honours CARGO_TARGET_DIR and CARGO_BUILD_JOBS as cargo does.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
skip() {
  echo "scripts/test_aarch64.sh: SKIPPED: $*" >&2
  exit 0
}
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >/dev/null 2>&1 || skip "rust target $target is not installed and 'rustup target add $target' failed"
fi
have_tools() { command -v qemu-aarch64 >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null; }
if ! have_tools; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y qemu-user gcc-aarch64-linux-gnu >/dev/null 2>&1 || true
  fi
  have_tools || skip "qemu-aarch64 or aarch64-linux-gnu-gcc is missing and 'apt-get install -y qemu-user gcc-aarch64-linux-gnu' did not provide them"
fi
sysroot=/usr/aarch64-linux-gnu
[ -d "$sysroot" ] || skip "$sysroot (the aarch64 C runtime for qemu) is missing"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
for cpu in max:neon-dot cortex-a72:neon; do
  name=${cpu%%:*} want=${cpu##*:}
  echo "== aarch64 under qemu -cpu $name (best instruction set: $want)"
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot -cpu $name"
  ACCELSIM_EXPECT_ISA=$want cargo test --target "$target" --test kernels_prop
  cargo test --target "$target" --lib kernels::
done
