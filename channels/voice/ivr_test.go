package voice

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

func TestNodeAt_FollowsKeysAndTimeOutPaths(t *testing.T) {
	q := uuid.New()
	leaf := &Node{Action: &Action{Type: ActionQueue, QueueID: &q}}
	sub := &Node{Prompt: "sub", Options: map[string]*Node{"1": leaf}, Timeout: leaf}
	root := &Node{Prompt: "root", Options: map[string]*Node{"2": sub, "#": leaf}, Timeout: sub}
	for _, tc := range []struct {
		path string
		want *Node
	}{
		{"", root}, {"2", sub}, {"21", leaf}, {"2t", leaf}, {"t", sub}, {"t1", leaf}, {"#", leaf},
		{"3", nil}, {"211", nil}, {"2x", nil}, {strings.Repeat("2", 20), nil},
	} {
		got, ok := root.At(tc.path)
		if got != tc.want || ok != (tc.want != nil) {
			t.Errorf("At(%q) = %v, %v", tc.path, got, ok)
		}
	}
}

func TestValidate_Rules(t *testing.T) {
	voiceQ, chatQ := uuid.New(), uuid.New()
	queues := func(id uuid.UUID) (bool, bool) { return id == voiceQ || id == chatQ, id == voiceQ }
	toQueue := func(id uuid.UUID) *Node { return &Node{Action: &Action{Type: ActionQueue, QueueID: &id}} }
	menu := func(opts map[string]*Node) *Node { return &Node{Prompt: "Hi", Options: opts} }
	for _, tc := range []struct {
		name string
		give *Node
		want string // "" is valid
	}{
		{"good", menu(map[string]*Node{"1": toQueue(voiceQ), "*": {Action: &Action{Type: ActionSelfService, Message: "m", Metered: true}}}), ""},
		{"chat queue", menu(map[string]*Node{"1": toQueue(chatQ)}), "root → 1: That queue does not take calls"},
		{"empty child", menu(map[string]*Node{"1": nil}), "root → 1: The node is empty."},
		{"leaf with prompt", menu(map[string]*Node{"1": {Prompt: "x", Action: &Action{Type: ActionHangup, Message: "m"}}}), "root → 1: An action has no prompt"},
		{"hangup without message", menu(map[string]*Node{"0": {Action: &Action{Type: ActionHangup}}}), "root → 0: Say something"},
		{"self-service with queue", menu(map[string]*Node{"0": {Action: &Action{Type: ActionSelfService, Message: "m", QueueID: &voiceQ}}}), "root → 0: Only a queue action"},
		{"timeout 0 is the default", &Node{Prompt: "Hi", TimeoutSeconds: 0, Options: map[string]*Node{"1": toQueue(voiceQ)}}, ""},
		{"timeout 30", &Node{Prompt: "Hi", TimeoutSeconds: 30, Options: map[string]*Node{"1": toQueue(voiceQ)}}, ""},
		{"timeout -1", &Node{Prompt: "Hi", TimeoutSeconds: -1, Options: map[string]*Node{"1": toQueue(voiceQ)}}, "timeout_seconds is 1 to 30"},
		{"long prompt", &Node{Prompt: strings.Repeat("a", 501), Options: map[string]*Node{"1": toQueue(voiceQ)}}, "at most 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.give, queues)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTwiML_EscapesEverything(t *testing.T) {
	x := new(TwiML).Say(`<Hangup/> & "quotes"`).Gather(`]]><Dial>`, 5, `http://x/?a=1&b="2"`).Redirect("http://x/?a=<1>").String()
	var doc struct {
		Says   []string `xml:"Say"`
		Gather struct {
			Action string `xml:"action,attr"`
			Say    string `xml:"Say"`
		} `xml:"Gather"`
		Redirect string `xml:"Redirect"`
		Hangup   *struct{}
	}
	if err := xml.Unmarshal([]byte(x), &doc); err != nil {
		t.Fatalf("%v: %s", err, x)
	}
	if doc.Says[0] != `<Hangup/> & "quotes"` || doc.Gather.Say != `]]><Dial>` || doc.Gather.Action != `http://x/?a=1&b="2"` ||
		doc.Redirect != "http://x/?a=<1>" || doc.Hangup != nil {
		t.Fatalf("escaped document reads back wrong: %+v", doc)
	}
}

// TestValidate_NodeLimit: a tree past MaxNodes is refused menu_too_large
// before any of its nodes is checked (or its queues looked up); one at
// the limit is checked as usual.
func TestValidate_NodeLimit(t *testing.T) {
	lookups := 0
	q := uuid.New()
	queues := func(uuid.UUID) (bool, bool) { lookups++; return true, true }
	// wide builds a menu with keys 0-9, * and # on every level, depth deep.
	var wide func(depth int) *Node
	wide = func(depth int) *Node {
		if depth == 0 {
			return &Node{Action: &Action{Type: ActionQueue, QueueID: &q}}
		}
		n := &Node{Prompt: "Press a key", Options: map[string]*Node{}}
		for _, k := range "0123456789*#" {
			n.Options[string(k)] = wide(depth - 1)
		}
		return n
	}
	err := Validate(wide(MaxDepth-1), queues) // 1 + 12 + 144 + 1728 + 20736 nodes
	if e, ok := cic.AsError(err); !ok || e.Code != "menu_too_large" || cic.ErrorKind(err) != cic.EINVALID {
		t.Fatalf("a tree of 22,621 nodes: %v, want menu_too_large", err)
	}
	if lookups != 0 {
		t.Errorf("%d queue lookups for a refused tree", lookups)
	}
	if err := Validate(wide(2), queues); err != nil { // 157 nodes
		t.Fatalf("a tree of 157 nodes: %v", err)
	}
	if n := countNodes(wide(MaxDepth-1), MaxNodes); n != MaxNodes+1 {
		t.Errorf("countNodes stops at %d, want %d", n, MaxNodes+1)
	}
}
