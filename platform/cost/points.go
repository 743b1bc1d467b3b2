package cost

import "github.com/tinyprof/tinyprof/platform"

// Point is one published measurement of tokens per second on a board,
// with how it was measured and what the cost model assumes where the
// source does not say.
type Point struct {
	ID string `json:"id"`
	// Source cites where the figure is published.
	Source string `json:"source"`
	// TokPerSec is the published figure.
	TokPerSec float64 `json:"tok_per_sec"`
	// How says how it was measured: clock, cores, where the weights lived,
	// steps, prompt, timer, as far as the source says.
	How string `json:"how"`
	// Assumed lists what the source does not say and the model assumes.
	Assumed string `json:"assumed,omitempty"`

	Platform   string          `json:"platform"`
	Model      string          `json:"model"`
	Shape      Shape           `json:"shape"`
	Parameters int64           `json:"parameters"`
	Format     string          `json:"format"`
	WeightsIn  platform.Region `json:"weights_in"`
	KVIn       platform.Region `json:"kv_in"`
	MHz        int             `json:"mhz"`
	Cores      int             `json:"cores"`
	SIMD       bool            `json:"simd"`
	// Steps is the sequence length the decode runs over, from position 0.
	Steps int `json:"steps"`
}

// The shapes of llama2.c's tinyllamas checkpoints (karpathy/llama2.c
// README, "Models" table, and stories260K's config in its
// tinyllamas model card: dim 64, 5 layers, 8 heads, 4 KV heads, vocab 512).
var (
	stories260K       = Shape{Layers: 5, Dim: 64, Hidden: 172, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512}
	stories260KParams = int64(stories260K.MatmulWeights() + 11*64)
	stories15M        = Shape{Layers: 6, Dim: 288, Hidden: 768, Heads: 6, KVHeads: 6, HeadDim: 48, Vocab: 32000}
	stories15MParams  = int64(stories15M.MatmulWeights() + 13*288)
)

// points are the published measurements the model is calibrated on. Each
// is a README figure; none was measured here.
var points = []Point{
	{
		ID: "esp32-llm", TokPerSec: 19.13,
		Source:   "DaveBben/esp32-llm README (commit 934dab4d242d): \"I am able to achieve 19.13 tok/s\"",
		How:      "ESP32-S3FH4R2 (2 MB quad PSRAM), CPU 240 MHz, PSRAM 80 MHz, both cores for the matrix products, ESP-DSP dot products; stories260K float32 read from SPIFFS into PSRAM; main/llm.c prints achieved tok/s from a timer started after the first token",
		Assumed:  "steps 256 from BOS; KV cache in PSRAM (seq_len 512 would need 640 KB, more than the internal SRAM)",
		Platform: "esp32s3-fh4r2", Model: "stories260K", Shape: stories260K, Parameters: stories260KParams, Format: "f32",
		WeightsIn: platform.PSRAM, KVIn: platform.PSRAM, MHz: 240, Cores: 2, SIMD: true, Steps: 256,
	},
	{
		ID: "llm-embedded-esp32s3", TokPerSec: 25.30,
		Source:   "wuhanstudio/llm-embedded README table (\"ESP32 | 240 MHz | FreeRTOS | SPIFFS | 25.30 token/s\", photo captioned ESP32-S3); esp32/sdkconfig, esp32/main/main.c and esp32/main/llm.c at commit 848911de",
		How:      "ESP32-S3, CPU 240 MHz, octal PSRAM at 80 MHz (CONFIG_SPIRAM_MODE_OCT, CONFIG_SPIRAM_SPEED_80M), 64 KB data cache; stories260K.bin read from SPIFFS into a malloc'd buffer (PSRAM: CONFIG_SPIRAM_USE_MALLOC); llm.c's matmul is llama2.c's scalar loop on one core, no ESP-DSP; 256 steps, prompt \"One day\", temperature 0.8, top-p 0.9",
		Assumed:  "the KV cache (640 KB at seq_len 512) in PSRAM, since it exceeds the internal SRAM",
		Platform: "esp32s3", Model: "stories260K", Shape: stories260K, Parameters: stories260KParams, Format: "f32",
		WeightsIn: platform.PSRAM, KVIn: platform.PSRAM, MHz: 240, Cores: 1, Steps: 256,
	},
	{
		ID: "llm-embedded-k210", TokPerSec: 43.83,
		Source:   "wuhanstudio/llm-embedded README table (\"K210 | 400 MHz | FreeRTOS | SD Card | 43.83 token/s\"); k210/hello_llm/main.c at commit 848911de",
		How:      "Kendryte K210 at 400 MHz under FreeRTOS; stories260K.bin read from an SD card into RAM; 256 steps, prompt \"One day\", temperature 0.8, top-p 0.9 (main.c)",
		Assumed:  "one core and llama2.c's scalar matmul, as the same repository's ESP32 llm.c (k210/hello_llm/llm.c not read); weights and KV cache in the 6 MB SRAM",
		Platform: "k210", Model: "stories260K", Shape: stories260K, Parameters: stories260KParams, Format: "f32",
		WeightsIn: platform.SRAM, KVIn: platform.SRAM, MHz: 400, Cores: 1, Steps: 256,
	},
	{
		ID: "llama4micro", TokPerSec: 2.5,
		Source:   "maxbbraun/llama4micro README at commit acc49ba (2023-11-14): \"This happens at a rate of ~2.5 tokens per second\"",
		How:      "Coral Dev Board Micro, i.MX RT1176 Cortex-M7 at 800 MHz (the M4 core unused), stories15M quantized with llama2.c export.py --version 2 (int8; its group of 64 halves to 32, since 288 is not a multiple of 64), in the board's 64 MB SDRAM",
		Assumed:  "KV cache in SDRAM; steps 256 (stories15M's seq_len); one core, no SIMD",
		Platform: "imxrt1176", Model: "stories15M", Shape: stories15M, Parameters: stories15MParams, Format: "int8-g32",
		WeightsIn: platform.PSRAM, KVIn: platform.PSRAM, MHz: 800, Cores: 1, Steps: 256,
	},
	{
		ID: "pico_llama", TokPerSec: 19,
		Source:   "romilly/pico_llama README (commit a41408be): \"Currently running the stories260K model (~1 MB weights) at 19 tokens/second\"; Performance table: \"Single core, 150 MHz\"",
		How:      "Pimoroni Pico Plus 2 W, RP2350B Cortex-M33 at 150 MHz, one core; stories260K float32 copied from flash to the 8 MB QSPI PSRAM (cached XIP window) at boot; RunState and KV cache in SRAM; time_us_64 timer",
		Assumed:  "steps 256",
		Platform: "rp2350-psram", Model: "stories260K", Shape: stories260K, Parameters: stories260KParams, Format: "f32",
		WeightsIn: platform.PSRAM, KVIn: platform.SRAM, MHz: 150, Cores: 1, Steps: 256,
	},
	{
		ID: "llm-embedded-rpi4", TokPerSec: 917.30,
		Source:   "wuhanstudio/llm-embedded README table (\"Raspi4 | 1.5GHz | Linux | SD Card | 917.30 token/s\"); linux/Makefile and linux/main.c at commit 848911de",
		How:      "Raspberry Pi 4 at 1.5 GHz under Linux; gcc -O2, one thread (no OpenMP); stories260K.bin read into RAM; 256 steps, no prompt, temperature 0.8, top-p 0.9",
		Assumed:  "the 4 GB board (the README does not say); no NEON (-O2 does not vectorise llama2.c's reduction)",
		Platform: "rpi4", Model: "stories260K", Shape: stories260K, Parameters: stories260KParams, Format: "f32",
		WeightsIn: platform.PSRAM, KVIn: platform.PSRAM, MHz: 1500, Cores: 1, Steps: 256,
	},
}

// Points returns the calibration points. The caller owns the slice.
func Points() []Point { return append([]Point(nil), points...) }

// config returns the cost model configuration of p.
func (p Point) config() (Config, error) {
	plat, err := platform.Lookup(p.Platform)
	if err != nil {
		return Config{}, err
	}
	f, err := LookupFormat(p.Format)
	if err != nil {
		return Config{}, err
	}
	c := Config{Platform: plat, Shape: p.Shape, Format: f, Parameters: p.Parameters,
		WeightBytes: map[platform.Region]int64{p.WeightsIn: int64(float64(p.Parameters) * f.BytesPerWeight())},
		KVIn:        p.KVIn, MHz: p.MHz, Cores: p.Cores, SIMD: p.SIMD}
	return c, c.Check()
}
