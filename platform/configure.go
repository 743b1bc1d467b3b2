package platform

import "fmt"

// WithClock returns p running at mhz with cores application cores, for a
// board configured below its catalogue maximum; 0 keeps the catalogue's
// figure. It refuses a clock above the chip's maximum or more cores than
// it has: the catalogue row is the chip's limit, and a cost model fed a
// faster board would predict what no such board does.
func (p Platform) WithClock(mhz, cores int) (Platform, error) {
	switch {
	case mhz < 0:
		return p, fmt.Errorf("CPU clock %d MHz: give a positive clock, or 0 for the catalogue's %d MHz", mhz, p.CPUMHz)
	case mhz > p.CPUMHz:
		return p, fmt.Errorf("CPU clock %d MHz is above the %s's maximum of %d MHz (%s)", mhz, p.Chip, p.CPUMHz, p.Datasheet)
	case cores < 0:
		return p, fmt.Errorf("%d cores: give a positive count, or 0 for the catalogue's %d", cores, p.Cores)
	case cores > p.Cores:
		return p, fmt.Errorf("%d cores: the %s has %d application core(s)", cores, p.Chip, p.Cores)
	}
	if mhz > 0 {
		p.CPUMHz = mhz
	}
	if cores > 0 {
		p.Cores = cores
	}
	return p, nil
}
