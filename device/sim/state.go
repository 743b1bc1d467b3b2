package sim

import (
	"math/rand/v2"
	"time"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
	"github.com/tinyprof/tinyprof/platform"
)

// upload is a model upload in progress.
type upload struct {
	size int64
	sha  [32]byte
	data []byte // data[:len] is what has been received contiguously
}

// loaded is a verified model.
type loaded struct {
	info   *model.Info
	sha    [32]byte
	region platform.Region  // where the file is stored
	place  *model.FitReport // where everything goes, from model.Fit
	cost   costModel
	lm     *llama.Model // the model's forward pass, nil if model/llama cannot run it
}

// allocItems takes the memory of the placement's items that are held from
// load (atLoad) or from the start of a generation (!atLoad). On failure it
// frees what it took and reports the item that found no room.
func (s *state) allocItems(f *model.FitReport, atLoad bool) (model.Item, bool) {
	for i, it := range f.Items {
		if it.Kind.AtLoad() != atLoad {
			continue
		}
		if !s.alloc(it.Region, it.Bytes) {
			for _, done := range f.Items[:i] {
				if done.Kind.AtLoad() == atLoad {
					s.free(done.Region, done.Bytes)
				}
			}
			return it, false
		}
	}
	return model.Item{}, true
}

// freeItems returns what allocItems took.
func (s *state) freeItems(f *model.FitReport, atLoad bool) {
	for _, it := range f.Items {
		if it.Kind.AtLoad() == atLoad {
			s.free(it.Region, it.Bytes)
		}
	}
}

// state is the board's mutable state, guarded by Board.mu.
type state struct {
	rng    *rand.Rand
	bootID uint32
	resets int
	workUS uint64 // modelled busy time added to the clock since boot

	// The board's own time line survives reboots, so that a meter wired
	// to it keeps one clock: epoch is when the board was created, totalUS
	// all modelled work since then, bootAt the internal time of the last
	// boot (see internalUS).
	epoch   time.Time
	totalUS uint64
	bootAt  uint64
	power   powerState

	heapTotal, psramTotal int64 // the heap region and PSRAM (PSRAM is the heap on Linux boards)
	heapUsed, psramUsed   int64
	heapMinFree           int64
	psramMinFree          int64
	heap                  *HeapModel

	up    *upload
	model *loaded

	generating  bool
	cancel      bool
	generations int

	txFrames, rxFrames int
	hung               bool
	lastLoadAt         uint64 // clock at the last METRICS, for CPU load
	lastBusy           uint64
	// sleptBusyUS is generation work that passed in real time (TimeScale)
	// rather than on the clock by addWork: busy all the same.
	sleptBusyUS uint64
}

// busyUS is the board's busy time in this boot, for CPU load: modelled
// work, including a running generation's up to what is recorded.
func (s *state) busyUS() uint64 {
	b := s.workUS + s.sleptBusyUS
	if s.generating {
		b += s.power.recordedUS
	}
	return b
}

func (s *state) init(o Options, p platform.Platform) {
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(o.Seed, 0x7469_6e79_7072_6f66))
	}
	s.bootID = s.rng.Uint32() | 1
	if s.epoch.IsZero() {
		s.epoch = time.Now()
	}
	s.bootAt = s.internalUS()
	// The firmware's own memory is the placement model's reservation
	// (platform.FirmwareReserve), so that the board and analyze-model
	// count the same free bytes.
	if p.SRAM > 0 {
		s.heapTotal, s.psramTotal = p.SRAM, p.PSRAM
		s.heapUsed = p.Reserved(platform.SRAM)
		s.psramUsed = p.Reserved(platform.PSRAM)
	} else {
		// A Linux board: its DRAM is both heap and "PSRAM", less the OS's.
		s.heapTotal, s.psramTotal = p.PSRAM, 0
		s.heapUsed = p.Reserved(platform.PSRAM)
		s.psramUsed = 0
	}
	if s.heap == nil {
		s.heap = NewHeapModel(o)
	}
	s.heapUsed += s.heap.InUse()
	s.heapMinFree = s.heapTotal - s.heapUsed
	s.psramMinFree = s.psramTotal - s.psramUsed
	s.generating, s.cancel = false, false
}

// reboot models a restart: RAM is cleared, a model stored in flash survives.
func (s *state) reboot(o Options, p platform.Platform) {
	keep := s.model
	if keep != nil && keep.region != platform.Flash {
		keep = nil
	}
	resets, rng, heap := s.resets+1, s.rng, s.heap
	if s.generating {
		// The generation ran until now: record it, and let the new boot
		// begin after it on the board's time line, which a TimeScale
		// below 1 can put ahead of real time.
		if end := s.power.record(); end > s.internalUS() {
			s.totalUS += end - s.internalUS()
		}
	}
	epoch, total, pw := s.epoch, s.totalUS, s.power
	heap.reboot() // a reboot also frees leaked heap
	*s = state{rng: rng, heap: heap, epoch: epoch, totalUS: total, power: pw}
	s.init(o, p)
	s.resets = resets
	// The firmware reads a model kept in flash again at boot: its
	// tokenizer and any tensor copies take RAM once more.
	if keep != nil {
		if _, ok := s.allocItems(keep.place, true); ok {
			s.model = keep
		}
	}
}

// bootUS is the modelled time a boot takes before the clock is read.
const bootUS = 300_000

// clockUS is the board's clock: real time since boot plus modelled work,
// plus 300 ms of modelled boot.
func (s *state) clockUS() uint64 { return bootUS + s.internalUS() - s.bootAt }

// internalUS is the board's time line in µs since it was created: real
// time plus every modelled busy interval. It never goes back, not even at
// a reboot.
func (s *state) internalUS() uint64 {
	return uint64(time.Since(s.epoch).Microseconds()) + s.totalUS
}

// addWork advances the clock by us of modelled busy time.
func (s *state) addWork(us uint64) {
	s.workUS += us
	s.totalUS += us
}

func (s *state) freeHeap() int64  { return s.heapTotal - s.heapUsed }
func (s *state) freePSRAM() int64 { return s.psramTotal - s.psramUsed }

// alloc takes n bytes from region r, tracking the low-water marks.
func (s *state) alloc(r platform.Region, n int64) bool {
	switch r {
	case platform.PSRAM:
		if s.psramTotal == 0 {
			return s.alloc(platform.SRAM, n)
		}
		if n > s.freePSRAM() {
			return false
		}
		s.psramUsed += n
		s.psramMinFree = min(s.psramMinFree, s.freePSRAM())
	case platform.Flash:
		return true // flash was checked against its capacity at MODEL_BEGIN
	default:
		if n > s.freeHeap() {
			return false
		}
		s.heapUsed += n
		s.heapMinFree = min(s.heapMinFree, s.freeHeap())
	}
	return true
}

func (s *state) free(r platform.Region, n int64) {
	switch r {
	case platform.PSRAM:
		if s.psramTotal == 0 {
			s.free(platform.SRAM, n)
			return
		}
		s.psramUsed -= n
	case platform.Flash:
	default:
		s.heapUsed -= n
	}
}
