#!/bin/sh
# size.sh - cross-builds the runtime and the agent for a Cortex-M4F and
# prints their flash (text, constants included) and static RAM.
#
#   firmware/runtime/size.sh            (from anywhere; needs arm-none-eabi-gcc)
#
# "runtime" is tp_rt_*.c plus tp_runtime_port.c; its RAM is the port's
# state (the model, KV cache and activations live in the board's arena).
# "agent" is ../agent/tinyprof_agent.c, whose state is the tp_agent the
# firmware allocates (see ../agent/size.sh). Extra flags, such as
# -DTP_RT_NO_GGUF, come from the command line. Exits 0 with a notice
# when the toolchain is missing.
set -eu
cd "$(dirname "$0")"
CC=${ARM_CC:-arm-none-eabi-gcc}
SIZE=${ARM_SIZE:-arm-none-eabi-size}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "size.sh: $CC not found; install gcc-arm-none-eabi to measure the runtime" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
FLAGS="-std=c99 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -ffunction-sections -fdata-sections -ffp-contract=off -Wall -Wextra -Werror -Wdouble-promotion -I. -I../agent $*"
objs=""
for f in tp_rt_load.c tp_rt_forward.c tp_rt_sample.c tp_rt_math.c tp_runtime_port.c; do
	o="$tmp/$(basename "$f" .c).o"
	"$CC" $FLAGS -fstack-usage -c "$f" -o "$o"
	objs="$objs $o"
done
"$CC" $FLAGS -c ../agent/tinyprof_agent.c -o "$tmp/agent.o"
"$CC" --version | head -n 1
stack=$(cat "$tmp"/*.su | sort -t"$(printf '\t')" -k2 -n | tail -n 1 | cut -f1,2)
# shellcheck disable=SC2086
"$SIZE" -t $objs | awk '{last=$0} END {split(last, f, " "); printf "runtime  flash: text %5d  RAM: data+bss %4d\n", f[1], f[2] + f[3]}'
"$SIZE" "$tmp/agent.o" | awk 'NR==2 {printf "agent    flash: text %5d  RAM: data+bss %4d (plus the tp_agent struct)\n", $1, $2 + $3}'
# shellcheck disable=SC2086
"$SIZE" -t $objs "$tmp/agent.o" | awk '{last=$0} END {split(last, f, " "); printf "together flash: text %5d\n", f[1]}'
echo "runtime  largest stack frame: $stack B"
