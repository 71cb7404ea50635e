package reviews

import "github.com/heraldhq/herald/bench/router/subgraphs/reviews/model"

// usernames of the authors, stored with the reviews so that Review.author can
// @provide them; they match the accounts subgraph.
var usernames = map[string]string{"1": "ada", "2": "alan", "3": "grace", "4": "edsger"}

// reviews is the fixed data set, newest first: two reviews per product for
// products 1–5 and one for 6, authors in rotation.
var reviews = []model.Review{
	{ID: "11", Body: "Sturdy enough for a mainframe.", AuthorID: "3", ProductUpc: "6"},
	{ID: "10", Body: "Warm and soft.", AuthorID: "2", ProductUpc: "5"},
	{ID: "9", Body: "Sheds a little.", AuthorID: "1", ProductUpc: "5"},
	{ID: "8", Body: "Bright, but the switch is stiff.", AuthorID: "4", ProductUpc: "4"},
	{ID: "7", Body: "Lights the whole desk.", AuthorID: "3", ProductUpc: "4"},
	{ID: "6", Body: "Wobbles on one leg.", AuthorID: "2", ProductUpc: "3"},
	{ID: "5", Body: "Cheap and cheerful.", AuthorID: "1", ProductUpc: "3"},
	{ID: "4", Body: "Too comfortable to work on.", AuthorID: "4", ProductUpc: "2"},
	{ID: "3", Body: "Seats four engineers.", AuthorID: "3", ProductUpc: "2"},
	{ID: "2", Body: "Could be wider.", AuthorID: "2", ProductUpc: "1"},
	{ID: "1", Body: "Love it!", AuthorID: "1", ProductUpc: "1"},
}

// Indexes built once from reviews.
var (
	byAuthor  = index(func(r model.Review) string { return r.AuthorID })
	byProduct = index(func(r model.Review) string { return r.ProductUpc })
)

func index(key func(model.Review) string) map[string][]model.Review {
	m := map[string][]model.Review{}
	for _, r := range reviews {
		m[key(r)] = append(m[key(r)], r)
	}
	return m
}

// latest returns the first n reviews (5 when n is nil).
func latest(n *int) []model.Review {
	k := 5
	if n != nil {
		k = *n
	}
	return reviews[:max(0, min(k, len(reviews)))]
}

// nonNil keeps an empty list from rendering as null on a non-null field.
func nonNil(rs []model.Review) []model.Review {
	if rs == nil {
		return []model.Review{}
	}
	return rs
}
