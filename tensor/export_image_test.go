package tensor

// SetConvColBudget lets the tests force Conv2D to unfold a few images at a time; it returns
// the previous budget.
func SetConvColBudget(n int) int {
	old := convColBudget
	convColBudget = n
	return old
}
