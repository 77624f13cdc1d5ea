// kstatus-check: what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), the library Flux's
// health checks and `kubectl wait`-style tools use, computes for each object of a JSON list
// read from stdin. Prints a JSON list of {"status", "message"} in the same order.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check: reading stdin:", err)
		os.Exit(2)
	}
	// apimachinery's decoder, as the apiserver's clients decode: whole numbers become int64,
	// which kstatus needs (metadata.generation, status.observedGeneration); encoding/json
	// would give float64 and kstatus would refuse every object.
	var objects []interface{}
	if err := utiljson.Unmarshal(data, &objects); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check: stdin is not a JSON list of objects:", err)
		os.Exit(2)
	}
	results := make([]map[string]string, 0, len(objects))
	for _, item := range objects {
		object, ok := item.(map[string]interface{})
		if !ok {
			fmt.Fprintln(os.Stderr, "kstatus-check: an element of the list is not an object")
			os.Exit(2)
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus-check:", err)
			os.Exit(1)
		}
		results = append(results, map[string]string{"status": res.Status.String(), "message": res.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check:", err)
		os.Exit(1)
	}
}
