package seats

import (
	"strconv"
	"strings"
	"testing"
)

// days builds 30 daily points of limit, with the peaks (and refusals)
// given for the last days: peaks[0] is the oldest of them.
func days(limit int, peaks []int, refused ...int) []UsagePoint {
	out := make([]UsagePoint, 30)
	for i := range out {
		out[i].Limit = limit
	}
	for i, p := range peaks {
		out[30-len(peaks)+i].Peak = p
	}
	for i, r := range refused {
		out[30-len(refused)+i].Refused = r
	}
	return out
}

func TestAdvise(t *testing.T) {
	tests := []struct {
		name  string
		daily []UsagePoint
		limit int
		want  Advice
		// says are phrases the message must hold.
		says []string
	}{
		{"no use at all", days(20, nil), 20,
			Advice{Kind: "none"}, []string{"nothing to advise"}},
		{"no data", nil, 20,
			Advice{Kind: "none"}, nil},
		{"full on three days", days(20, []int{20, 5, 20, 20}), 20,
			Advice{Kind: "at_limit", Peak: 20, DaysFull: 3, Suggested: 22}, []string{"Every seat was taken on 3 of the last 30 days. Consider raising the seat count to about 22"}},
		{"full on two days only fits", days(20, []int{20, 20}), 20,
			Advice{Kind: "fits", Peak: 20, DaysFull: 2}, []string{"at most 20 of 20"}},
		{"one refusal is enough", days(20, []int{10}, 1), 20,
			Advice{Kind: "at_limit", Peak: 10, Refused: 1, Suggested: 22}, []string{"1 login was refused. Consider raising the seat count to about 22"}},
		{"a small pool grows by at least one", days(2, []int{2, 2, 2}, 3), 2,
			Advice{Kind: "at_limit", Peak: 2, DaysFull: 3, Refused: 3, Suggested: 3},
			[]string{"Every seat was taken on 3 of the last 30 days and 3 logins were refused. Consider raising the seat count to about 3 "}},
		{"a day is full against its own limit", days(5, []int{5, 5, 5}), 40,
			Advice{Kind: "at_limit", Peak: 5, DaysFull: 3, Suggested: 44}, []string{"about 44"}},
		{"far below at 60%", days(20, []int{3, 12, 7}), 20,
			Advice{Kind: "far_below", Peak: 12, Suggested: 15}, []string{"only 12 of 20", "About 15 seats"}},
		{"far below rounds the headroom up", days(10, []int{1}), 10,
			Advice{Kind: "far_below", Peak: 1, Suggested: 2}, []string{"only 1 of 10", "About 2 seats"}},
		{"just above 60% fits", days(20, []int{13}), 20,
			Advice{Kind: "fits", Peak: 13}, []string{"at most 13 of 20"}},
		{"no seats but refused", days(0, nil, 4), 0,
			Advice{Kind: "at_limit", Refused: 4, Suggested: 1}, []string{"4 logins were refused. Consider raising the seat count to about 1 "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Advise(tc.daily, tc.limit)
			msg := got.Message
			got.Message = ""
			if got != tc.want {
				t.Errorf("Advise = %+v, want %+v", got, tc.want)
			}
			if msg == "" {
				t.Error("no message")
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if tc.want.Suggested > 0 && !strings.Contains(msg, strconv.Itoa(tc.want.Suggested)) {
				t.Errorf("message %q does not name the %d seats suggested", msg, tc.want.Suggested)
			}
		})
	}
}
