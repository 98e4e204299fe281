# imxbench board probe (POSIX sh, busybox-compatible). Prints ONE JSON document on stdout.
# Usage: sh probe.sh WORKDIR
# Facts follow NXP's BSP layout (docs: shared/docs/NXP_FACTS.md §1, §5, §6). Read-only: it
# changes nothing on the board.
WORKDIR=${1:-/home/root/imxbench}
PROBE_FORMAT=1

# A JSON string from arbitrary text: one line, control characters dropped, \ and " escaped.
# Printable text without \ or " (nearly every value) is printed as it is: no 3 processes to fork.
js() {
  case $1 in
    *[![:print:]]* | *\\* | *\"* | *,)
      printf '"%s"' "$(printf '%s' "$1" | tr '\000\n\r\t' ',   ' | tr -d '\001-\037' \
        | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/,*$//')" ;;
    *) printf '"%s"' "$1" ;;
  esac
}
# A JSON string, or null when empty.
jsn() { if [ -n "$1" ]; then js "$1"; else printf 'null'; fi; }
# A JSON number, or null when not an integer.
jnum() { case "$1" in ''|*[!0-9]*) printf 'null' ;; *) printf '%s' "$1" ;; esac; }
jbool() { if [ "$1" = 1 ]; then printf 'true'; else printf 'false'; fi; }
rd() { [ -r "$1" ] && cat "$1" 2>/dev/null; }
# NUL-separated lists (devicetree compatible): NULs would vanish in $(...), so translate first.
rd_list() { [ -r "$1" ] && tr '\000' ' ' < "$1" 2>/dev/null; }
osr() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | head -n 1 | tr -d '"'; }

cpu_count() {
  online=$(rd /sys/devices/system/cpu/online)
  [ -n "$online" ] || { grep -c '^processor' /proc/cpuinfo 2>/dev/null; return; }
  n=0
  for part in $(printf '%s' "$online" | tr ',' ' '); do
    a=${part%-*}; b=${part#*-}
    n=$((n + b - a + 1))
  done
  echo "$n"
}

meminfo() { sed -n "s/^$1:[[:space:]]*\([0-9]*\).*/\1/p" /proc/meminfo 2>/dev/null; }

free_kb() {
  d=$1
  while [ ! -d "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
  df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}'
}

# Python facts without starting Python's site machinery (a python3 start with importlib.metadata
# costs 0.1-0.3 s on an A53): `python3 --version` exits before importing anything, and the
# runtimes' versions are in the names of the wheels' metadata directories, where pip puts them
# (NXP_FACTS §1.2: /usr/lib/python3.<N>/site-packages/).
py_version() {
  command -v python3 >/dev/null 2>&1 || return
  v=$(python3 --version 2>&1) && printf '%s' "${v#Python }"
}
# The version of the first installed distribution named $1 (dist-info or egg-info), or nothing.
wheel_version() {
  for meta in /usr/lib/python3*/site-packages/"$1"-*.dist-info \
      /usr/lib/python3*/site-packages/"$1"-*.egg-info \
      /usr/local/lib/python3*/site-packages/"$1"-*.dist-info; do
    [ -e "$meta" ] || continue
    v=${meta##*/}; v=${v#"$1"-}; v=${v%.dist-info}; v=${v%.egg-info}; v=${v%%-py*}
    printf '%s' "$v"
    return
  done
}

# The document.
facts() {
printf '{"format": %s' "$PROBE_FORMAT"
printf ', "soc_id": '; jsn "$(rd /sys/devices/soc0/soc_id)"
printf ', "soc_family": '; jsn "$(rd /sys/devices/soc0/family)"
printf ', "soc_revision": '; jsn "$(rd /sys/devices/soc0/revision)"
model=$(rd_list /sys/firmware/devicetree/base/model || rd_list /proc/device-tree/model)
printf ', "machine": '; jsn "$(rd /sys/devices/soc0/machine || printf '%s' "$model")"
printf ', "model": '; jsn "$model"
printf ', "compatible": '
jsn "$(rd_list /sys/firmware/devicetree/base/compatible || rd_list /proc/device-tree/compatible)"
printf ', "hostname": '; jsn "$(uname -n)"
printf ', "kernel": '; jsn "$(uname -r)"
printf ', "arch": '; jsn "$(uname -m)"
printf ', "os_release": {"name": '; jsn "$(osr NAME)"
printf ', "version_id": '; jsn "$(osr VERSION_ID)"
printf ', "pretty_name": '; jsn "$(osr PRETTY_NAME)"
printf '}'

printf ', "tflite": ['
sep=''
for bm in /usr/bin/tensorflow-lite-*/examples/benchmark_model; do
  [ -e "$bm" ] || continue
  v=${bm#/usr/bin/tensorflow-lite-}; v=${v%%/*}
  printf '%s{"version": ' "$sep"; js "$v"
  printf ', "benchmark_model": '; js "$bm"
  printf ', "executable": '; if [ -x "$bm" ]; then jbool 1; else jbool 0; fi
  printf '}'
  sep=', '
done
printf ']'

printf ', "python3": '; jsn "$(command -v python3 2>/dev/null)"
printf ', "python_version": '; jsn "$(py_version)"
printf ', "tflite_runtime": '; jsn "$(wheel_version tflite_runtime)"
printf ', "ai_edge_litert": '; jsn "$(wheel_version ai_edge_litert)"
printf ', "vela": '; jsn "$(vela --version 2>/dev/null | head -n 1)"

printf ', "delegates": ['
sep=''
for lib in /usr/lib/lib*_delegate.so /usr/lib/lib*_delegate.so.*; do
  [ -f "$lib" ] || continue
  printf '%s{"path": ' "$sep"; js "$lib"
  printf ', "sha256": '; jsn "$(sha256sum "$lib" 2>/dev/null | cut -d ' ' -f 1)"
  printf '}'
  sep=', '
done
printf ']'

printf ', "npu_devices": {'
sep=''
for dev in /dev/galcore /dev/ethosu0 /dev/neutron0; do
  printf '%s' "$sep"; js "$dev"; printf ': '
  if [ -e "$dev" ]; then jbool 1; else jbool 0; fi
  sep=', '
done
printf '}'
printf ', "ethosu_firmware": '
if [ -e /lib/firmware/ethosu_firmware ]; then jbool 1; else jbool 0; fi

policy=/sys/devices/system/cpu/cpufreq/policy0
[ -d "$policy" ] || policy=/sys/devices/system/cpu/cpu0/cpufreq
printf ', "cpu_count": '; jnum "$(cpu_count)"
printf ', "cpufreq_governor": '; jsn "$(rd "$policy/scaling_governor")"
printf ', "cpu_max_khz": '; jnum "$(rd "$policy/cpuinfo_max_freq")"
printf ', "temperature_mc": '; jnum "$(rd /sys/class/thermal/thermal_zone0/temp)"
printf ', "mem_total_kb": '; jnum "$(meminfo MemTotal)"
printf ', "mem_available_kb": '; jnum "$(meminfo MemAvailable)"
printf ', "workdir": '; js "$WORKDIR"
printf ', "workdir_free_kb": '; jnum "$(free_kb "$WORKDIR")"
printf ', "emulated": '
if [ -e /usr/share/imxbench-emulator/board.json ]; then jbool 1; else jbool 0; fi
printf '}\n'
}

facts
