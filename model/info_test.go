package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tinyprof/tinyprof/model"
)

func TestDominantType(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tensors []model.Tensor
		want    model.Type
	}{
		{"no tensors", nil, model.TypeF32},
		{"many small tensors outweigh one larger", []model.Tensor{
			{Type: model.TypeF32, Bytes: 100}, {Type: model.TypeF32, Bytes: 100}, {Type: model.TypeQ4_0, Bytes: 150},
		}, model.TypeF32},
		{"the sum counts, not the largest tensor", []model.Tensor{
			{Type: model.TypeQ8_0, Bytes: 300}, {Type: model.TypeQ4_0, Bytes: 200}, {Type: model.TypeQ4_0, Bytes: 200},
		}, model.TypeQ4_0},
		{"a tie goes to the type met first", []model.Tensor{
			{Type: model.TypeQ4_K, Bytes: 64}, {Type: model.TypeQ8_0, Bytes: 64},
		}, model.TypeQ4_K},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info := &model.Info{Tensors: tt.tensors}
			assert.Equal(t, tt.want, info.DominantType())
		})
	}
}
