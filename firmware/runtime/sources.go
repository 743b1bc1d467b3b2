package runtime

import "embed"

// Sources holds the runtime's C sources, so that a harness can build
// firmware with it from any working directory; device/emu does. Paths are
// relative to this directory, e.g. "tp_rt_forward.c".
//
//go:embed tp_rt.h tp_rt_load.c tp_rt_forward.c tp_rt_sample.c tp_rt_math.c tp_runtime_port.h tp_runtime_port.c
var Sources embed.FS

// PortSources are the units of Sources a firmware compiles to get the
// agent's inference hooks (tinyprof_port.h) from the runtime.
var PortSources = []string{"tp_rt_load.c", "tp_rt_forward.c", "tp_rt_sample.c", "tp_rt_math.c", "tp_runtime_port.c"}
