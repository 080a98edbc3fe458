package agencycode_test

import (
	"errors"
	"fmt"

	"github.com/ndxp/ndxp/internal/agencycode"
)

func ExampleParse() {
	c, err := agencycode.Parse("001.00.10.H47") // UBND huyện Duy Xuyên
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c, c.Level(), c.Body(), c.Root())

	_, err = agencycode.Parse("28.22.H17")
	fmt.Println(err)
	fmt.Println(errors.Is(err, agencycode.ErrInvalid))
	// Output:
	// 001.00.10.H47 4 H47 000.00.00.H47
	// invalid identifier code "28.22.H17": must have 4 dot-separated groups in the form NNN.NN.NN.XNN, got 3
	// true
}

func ExampleCode_Parent() {
	c := agencycode.MustParse("001.00.10.H47")
	for {
		fmt.Printf("%v level %d\n", c, c.Level())
		p, ok := c.Parent()
		if !ok {
			break
		}
		c = p
	}
	// Output:
	// 001.00.10.H47 level 4
	// 001.00.00.H47 level 2
	// 000.00.00.H47 level 1
}
