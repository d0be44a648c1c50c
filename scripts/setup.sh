#!/usr/bin/env bash
# Prepares a fresh Debian or Ubuntu machine for rvisor and builds it.
#
#   musl-tools      musl-gcc, which builds the static C guest programs
#   gcc, libc6-dev  the glibc builds of a guest (static and dynamic)
#   busybox-static  a real static program the tests run under rvisor
#   bash-static     a static shell for running scripts inside the sandbox
#
# apt-get runs only when something is missing, so repeated runs are quick
# and need no network. Then the release binary is built:
# target/release/rvisor (or under $CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(musl-tools gcc libc6-dev busybox-static bash-static)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if ! command -v dpkg-query >/dev/null; then
	echo "setup.sh: this script needs a Debian-based system (apt-get, dpkg)" >&2
	exit 1
fi

missing=()
for package in "${packages[@]}"; do
	installed "$package" || missing+=("$package")
done

if ((${#missing[@]})); then
	echo "setup.sh: installing ${missing[*]}"
	sudo=()
	if ((EUID != 0)); then
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
	echo "setup.sh: cargo is not installed; install Rust (rust-toolchain.toml pins the version)" >&2
	exit 1
fi
cargo build --release -p sentry --bin rvisor
echo "setup.sh: built ${CARGO_TARGET_DIR:-target}/release/rvisor"
