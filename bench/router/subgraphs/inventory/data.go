package inventory

// inStock is the fixed stock state by UPC; unknown products are out of stock.
var inStock = map[string]bool{"1": true, "2": false, "3": true, "4": true, "5": false, "6": true}

// shippingEstimate is free above 1000 cents, otherwise half the weight:
// it needs both @external fields, which is why it @requires them.
func shippingEstimate(price, weight int) int {
	if price > 1000 {
		return 0
	}
	return weight / 2
}
