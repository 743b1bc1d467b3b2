#!/bin/sh
# size.sh - cross-builds the agent for a Cortex-M4 and prints its size.
#
#   firmware/agent/size.sh            (from anywhere; needs arm-none-eabi-gcc)
#
# "agent" is tinyprof_agent.c alone: text is its flash, data+bss its static
# RAM (none: the state lives in the tp_agent the firmware allocates).
# "tp_agent" is sizeof(tp_agent) with the given buffer macros, as bss.
# Exits 0 with a notice when the toolchain is missing.
set -eu
cd "$(dirname "$0")"
CC=${ARM_CC:-arm-none-eabi-gcc}
SIZE=${ARM_SIZE:-arm-none-eabi-size}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "size.sh: $CC not found; install gcc-arm-none-eabi to measure the agent" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
FLAGS="-std=c99 -mcpu=cortex-m4 -mthumb -Os -ffunction-sections -fdata-sections -Wall -Wextra -Werror -I."
echo 'tp_agent tp_size_agent;' > "$tmp/state.c"

measure() { # label, payload, ring, stage
	label=$1
	buffers=$((2 * ($2 + 7) + $3 + $4))
	set -- -DTP_MAX_PAYLOAD="$2" -DTP_RX_RING="$3" -DTP_TX_STAGE="$4"
	"$CC" $FLAGS "$@" -fstack-usage -c tinyprof_agent.c -o "$tmp/agent.o"
	"$CC" $FLAGS "$@" -include tinyprof_agent.h -c "$tmp/state.c" -o "$tmp/state.o"
	stack=$(sort -t"$(printf '\t')" -k2 -n "$tmp/agent.su" | tail -n 1 | cut -f2)
	"$SIZE" "$tmp/agent.o" | awk -v l="$label" 'NR==2 {printf "%-34s flash: text %5d  data %3d  bss %3d\n", l, $1, $2, $3}'
	"$SIZE" "$tmp/state.o" | awk -v l="$label" -v b="$buffers" -v s="$stack" \
		'NR==2 {printf "%-34s RAM: sizeof(tp_agent) %5d = buffers %5d + state %4d; largest stack frame %s B\n", l, $3, b, $3 - b, s}'
}

"$CC" --version | head -n 1
measure "payload 1024, ring 256, stage 64" 1024 256 64
measure "payload 64, ring 64, stage 16" 64 64 16
