package cuda

// scatterPlan returns [u_0..u_{U−1} | start_0..start_U | order]: the U distinct destination
// rows in increasing order, and for row u_k the source rows order[start_k:start_{k+1}] in
// increasing order.
func scatterPlan(idx []int32, rows int) []int32 {
	count := make([]int32, rows+1)
	for _, r := range idx {
		count[r+1]++
	}
	var uniq []int32
	for r := 0; r < rows; r++ {
		if count[r+1] > 0 {
			uniq = append(uniq, int32(r))
		}
		count[r+1] += count[r] // count[r] is now the first slot of row r
	}
	order := make([]int32, len(idx))
	next := append([]int32(nil), count[:rows]...)
	for i, r := range idx {
		order[next[r]] = int32(i)
		next[r]++
	}
	plan := make([]int32, 0, 2*len(uniq)+1+len(idx))
	plan = append(plan, uniq...)
	for _, u := range uniq {
		plan = append(plan, count[u])
	}
	plan = append(plan, int32(len(idx)))
	return append(plan, order...)
}
