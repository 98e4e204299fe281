#!/usr/bin/env bash
# One-time setup on a Debian/Ubuntu machine: system packages (as root or with sudo), then a
# virtualenv in .venv with imxbench and its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  python3-venv util-linux procps       # venv; unshare/setsid/mount for the emulator; pgrep
  iproute2                             # ip netns: the blackholed-board test's network namespace
  openssh-client openssh-server openssh-sftp-server dropbear-bin busybox   # SSH test servers
  chromium                             # headless browser: the HTML report's rendering test
  postgresql                           # the results history's PostgreSQL tests (a throwaway server)
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d 101: install the servers without starting them as system services
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
else
  echo "setup.sh: no apt-get here; install these yourself: ${PACKAGES[*]}" >&2
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,lab]'   # lab: labgrid, for tests/test_labgrid.py
# The board's runtime as NXP's L6.6 BSP ships it (tflite-runtime 2.14, numpy<2): the tests run
# board/scripts/evaluate.py under it. Its wheels stop at CPython 3.11; without it they skip.
{ [ -x .venv-bsp/bin/python ] || "$PYTHON" -m venv .venv-bsp; } &&
  .venv-bsp/bin/pip install -q tflite-runtime==2.14.0 'numpy<2' ||
  echo "setup.sh: no tflite-runtime 2.14 for $("$PYTHON" -V); the BSP-runtime tests will skip" >&2
echo "setup.sh: ready. Try: .venv/bin/imxbench run --board imx8mp --emulate"
