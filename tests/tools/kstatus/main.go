// kstatus-check: what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), the library Flux's
// health checks and `kubectl wait`-style tools use, computes for each object of a JSON list
// read from stdin. Prints a JSON list of {"status", "message"} in the same order.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	var objects []map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check: stdin is not a JSON list of objects:", err)
		os.Exit(2)
	}
	results := make([]map[string]string, 0, len(objects))
	for _, object := range objects {
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
