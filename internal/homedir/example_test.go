package homedir_test

import (
	"fmt"

	"github.com/transferd/transferd/internal/homedir"
	"github.com/transferd/transferd/internal/transfer"
)

func Example() {
	r, err := homedir.New(&transfer.User{
		UserName:          "jane",
		HomeDirectoryType: transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{
			{Entry: "/pics", Target: "/bucket/images/${transfer:UserName}"},
			{Entry: "/anotherpath/subpath/financials", Target: "/finance/2026"},
		},
	})
	if err != nil {
		panic(err)
	}
	for _, p := range []string{"", "anotherpath", "/pics/../pics/./cat.jpg", "../../anotherpath/subpath/financials", "/notes.txt"} {
		res, err := r.Resolve(p)
		switch {
		case err != nil:
			fmt.Printf("%q: %v\n", p, err)
		case res.Virtual:
			fmt.Printf("%q: %s is virtual, %d children, first %s\n", p, res.Path, len(res.Children), res.Children[0].Name)
		default:
			fmt.Printf("%q: %s is %s (entry point %t)\n", p, res.Path, res.Location, res.EntryPoint)
		}
	}
	// Output:
	// "": / is virtual, 2 children, first anotherpath
	// "anotherpath": /anotherpath is virtual, 1 children, first subpath
	// "/pics/../pics/./cat.jpg": /pics/cat.jpg is /bucket/images/jane/cat.jpg (entry point false)
	// "../../anotherpath/subpath/financials": /anotherpath/subpath/financials is /finance/2026 (entry point true)
	// "/notes.txt": resolve /notes.txt: no such file or directory
}
