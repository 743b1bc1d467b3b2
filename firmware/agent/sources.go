package agent

import "embed"

// Sources holds the agent's C sources and the emulated boards' firmware
// (boards/), so that a harness can build firmware from any working
// directory; device/emu does. Paths are relative to this directory, e.g.
// "tinyprof_agent.c" and "boards/common/main.c".
//
//go:embed tinyprof_agent.c tinyprof_agent.h tinyprof_port.h boards
var Sources embed.FS
