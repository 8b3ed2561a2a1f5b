package sidecarclient

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// specModel is an implementation of docs/model-spec.md, written from that
// document alone, that the tests compare the sidecar's results with.
type specModel struct {
	inputs  []string
	outputs []specOutput
}

type specOutput struct {
	name       string
	weights    []float32
	bias       float32
	activation string
}

func loadSpecModel(t *testing.T, modelDir string) specModel {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(modelDir, "data", "model.json"))
	if err != nil {
		t.Fatalf("read model spec: %v", err)
	}
	var doc struct {
		Format  string   `json:"format"`
		Kind    string   `json:"kind"`
		Inputs  []string `json:"inputs"`
		Outputs []struct {
			Name       string    `json:"name"`
			Weights    []float64 `json:"weights"`
			Bias       float64   `json:"bias"`
			Activation string    `json:"activation"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		t.Fatalf("parse model spec of %s: %v", modelDir, err)
	}
	if doc.Format != "tidb-model-spec/1" || doc.Kind != "linear" {
		t.Fatalf("model spec of %s has format %q kind %q, expected tidb-model-spec/1 linear", modelDir, doc.Format, doc.Kind)
	}

	model := specModel{inputs: doc.Inputs}
	for _, o := range doc.Outputs {
		if len(o.Weights) != len(doc.Inputs) {
			t.Fatalf("output %q has %d weights for %d inputs", o.Name, len(o.Weights), len(doc.Inputs))
		}
		out := specOutput{name: o.Name, bias: float32(o.Bias), activation: o.Activation}
		for _, w := range o.Weights {
			out.weights = append(out.weights, float32(w))
		}
		model.outputs = append(model.outputs, out)
	}
	return model
}

// evaluate computes one row, whose values are in the spec's input order.
// Every product and sum is converted to float32 explicitly because the Go
// specification lets a compiler fuse x*y + z into one rounding otherwise.
func (m specModel) evaluate(row []float32) ([]float32, error) {
	result := make([]float32, 0, len(m.outputs))
	for _, out := range m.outputs {
		acc := out.bias
		for i, w := range out.weights {
			product := float32(w * row[i])
			acc = float32(acc + product)
		}

		switch out.activation {
		case "identity":
		case "relu":
			if !(acc > 0) {
				acc = 0
			}
		case "sigmoid":
			acc = float32(1 / (1 + math.Exp(-float64(acc))))
		default:
			return nil, fmt.Errorf("output %q has unknown activation %q", out.name, out.activation)
		}
		result = append(result, acc)
	}
	return result, nil
}

// readInputCSV reads a header row of column names and rows of numbers, each
// parsed straight to the nearest float32.
func readInputCSV(t *testing.T, path string) ([]string, [][]float32) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatalf("open inputs: %v", err)
	}
	defer file.Close()
	records, err := csv.NewReader(file).ReadAll()
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(records) < 2 {
		t.Fatalf("%s has no data rows", path)
	}

	var rows [][]float32
	for lineIndex, record := range records[1:] {
		row := make([]float32, len(record))
		for i, field := range record {
			v, err := strconv.ParseFloat(field, 32)
			if err != nil {
				t.Fatalf("%s line %d column %d: %v", path, lineIndex+2, i+1, err)
			}
			row[i] = float32(v)
		}
		rows = append(rows, row)
	}
	return records[0], rows
}

func TestSpecModelSigmoidOfZero(t *testing.T) {
	// bias -2 cancelled by 64 * 0.03125 gives acc 0, and sigmoid(0) is 0.5.
	model := specModel{
		inputs:  []string{"tenure", "spend"},
		outputs: []specOutput{{name: "score", weights: []float32{0.03125, 0.0078125}, bias: -2, activation: "sigmoid"}},
	}
	got, err := model.evaluate([]float32{64, 0})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0.5 {
		t.Errorf("sigmoid(0) = %v, expected 0.5", got[0])
	}
}
