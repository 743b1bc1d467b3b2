package firmware

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEnumStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Capabilities(0).String(), "none"},
		{(CapCancel | CapSimulated).String(), "cancel|simulated"},
		{(CapPower | CapEmulated | 0x100).String(), "power|emulated|0x100"},
		{RegionPSRAM.String(), "psram"},
		{Region(9).String(), "region 9"},
		{StopContext.String(), "context full"},
		{StopReason(7).String(), "stop 7"},
		{LevelWarn.String(), "W"},
		{LogLevel(0).String(), "level 0"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got)
	}
	assert.True(t, (CapCancel | CapSimulated).Simulated())
	assert.False(t, CapCancel.Simulated())
	assert.True(t, (CapPower | CapPSRAM).Has(CapPower|CapPSRAM))
	assert.False(t, CapPower.Has(CapPower|CapPSRAM))
	assert.True(t, RegionFlash.Valid())
	assert.False(t, Region(0).Valid())
	assert.False(t, StopReason(4).Valid())
	assert.False(t, LogLevel(5).Valid())
}

func TestErrorSaysItsCodeOnce(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Code: CodeNoModel, Text: "no model loaded"}, "device: no model loaded"},
		{Error{Code: CodeNoModel}, "device: no model loaded"},
		{Error{Code: CodeNoModel, Text: "upload one with LOAD first"}, "device: no model loaded: upload one with LOAD first"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
}
