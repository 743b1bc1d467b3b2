package hwtest

// SimBoardsPerPlatform is how many simulated boards of each catalogue
// platform the simulated build offers when no inventory is given.
const SimBoardsPerPlatform = 4

// SimEEMBCBoards is how many simulated MLPerf Tiny boards (protocol eembc,
// served by package eembcsim) the simulated build offers when no inventory
// is given, named sim-eembc-1 onwards. Each models a kws01 DUT taking
// 16,760 µs per inference, like MLPerf Tiny v1.0's NUCLEO-H7A3ZI-Q result.
const SimEEMBCBoards = 2

// SimEEMBCPlatform is the platform of those boards: the catalogue's
// Cortex-M7 STM32H7, the family of the board the simulated DUT models.
const SimEEMBCPlatform = "stm32h7"

// EmuBoardsPerMachine is how many emulated boards of each QEMU machine
// (platform.Emulated) the simulated build offers when no inventory is
// given and qemu-system-arm and arm-none-eabi-gcc are installed. Each
// lease starts its own QEMU, so this bounds the emulators one test binary
// runs at once.
const EmuBoardsPerMachine = 2
