package agent

import "embed"

// Sources holds the agent's C sources, the emulated boards' firmware
// (boards/) and the host program (host/main.c), so that a harness can
// build them from any working directory; device/emu does. Paths are
// relative to this directory, e.g. "tinyprof_agent.c" and
// "boards/common/main.c".
//
//go:embed tinyprof_agent.c tinyprof_agent.h tinyprof_port.h boards host/main.c
var Sources embed.FS
