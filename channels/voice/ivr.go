package voice

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// Limits of a menu tree.
const (
	MaxDepth      = 5   // sub-menus nest at most this deep (the root is depth 1)
	MaxPrompt     = 500 // characters of a prompt or message
	MaxTries      = 3   // a silent caller hears a prompt this often before the default
	DefaultWait   = 5   // seconds a menu waits for a key when none is set
	maxTimeoutSec = 30
	// MaxNodes bounds a tree's steps (menus and actions): twelve keys
	// and a time-out on five levels would otherwise allow 13^5, each
	// checked (and its queue looked up) on every save.
	MaxNodes = 200
	// MaxMenuBytes bounds a tree as stored (JSON).
	MaxMenuBytes = 64 << 10
)

// errMenuTooLarge is the refusal of a tree over MaxNodes or MaxMenuBytes.
func errMenuTooLarge(why string) error {
	return cic.Codef(cic.EINVALID, "menu_too_large", "The menu is too large: %s. Split it into several menus.", why)
}

// countNodes counts a tree's nodes, stopping past limit (and past the
// depth a valid tree has), without recursion.
func countNodes(root *Node, limit int) int {
	type item struct {
		n     *Node
		depth int
	}
	n, stack := 0, []item{{root, 1}}
	for len(stack) > 0 && n <= limit {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n == nil {
			continue
		}
		n++
		if it.depth > MaxDepth {
			continue // validate refuses it; what is below does not count
		}
		for _, c := range it.n.Options {
			stack = append(stack, item{c, it.depth + 1})
		}
		if it.n.Timeout != nil {
			stack = append(stack, item{it.n.Timeout, it.depth + 1})
		}
	}
	return n
}

// Actions of a leaf.
const (
	ActionQueue       = "queue"        // the caller waits in a queue for an agent
	ActionSelfService = "self_service" // a message, then hang up
	ActionHangup      = "hangup"       // a message, then hang up
)

// Node is one step of an IVR menu: either a menu (Prompt, Options, a
// time-out path) or a leaf (Action).
type Node struct {
	Prompt         string           `json:"prompt,omitempty"`
	Options        map[string]*Node `json:"options,omitempty"`
	TimeoutSeconds int              `json:"timeout_seconds,omitempty"`
	// Timeout is where a caller who presses nothing goes; without it the
	// prompt repeats MaxTries times, then the number's default (its
	// queue, or goodbye).
	Timeout *Node   `json:"timeout,omitempty"`
	Action  *Action `json:"action,omitempty"`
}

// Action is what a leaf does.
type Action struct {
	Type    string     `json:"type"`
	QueueID *uuid.UUID `json:"queue_id,omitempty"`
	Message string     `json:"message,omitempty"`
	// Metered marks a self-service leaf whose calls count as contacts
	// handled by automation (metered once).
	Metered bool `json:"metered,omitempty"`
}

// IsLeaf tells an action from a menu.
func (n *Node) IsLeaf() bool { return n.Action != nil }

// Wait is the seconds the menu waits for a key.
func (n *Node) Wait() int {
	if n.TimeoutSeconds == 0 {
		return DefaultWait
	}
	return n.TimeoutSeconds
}

// validKey reports whether k is a key of a phone's keypad.
func validKey(k string) bool {
	return len(k) == 1 && (k[0] >= '0' && k[0] <= '9' || k[0] == '*' || k[0] == '#')
}

// Path steps: a key, or TimeoutStep for the time-out path. A node's path
// is the steps from the root: "" is the root, "2" the menu behind key 2,
// "2t" that menu's time-out path.
const TimeoutStep = 't'

// At returns the node at path, or false when the path leads nowhere (a
// menu edited during the call, a forged URL).
func (n *Node) At(path string) (*Node, bool) {
	cur := n
	if len(path) > MaxDepth*2 {
		return nil, false
	}
	for i := 0; i < len(path); i++ {
		if cur == nil || cur.IsLeaf() {
			return nil, false
		}
		if path[i] == TimeoutStep {
			cur = cur.Timeout
		} else {
			cur = cur.Options[path[i:i+1]]
		}
	}
	return cur, cur != nil
}

// QueueChecker says whether a queue exists and takes calls; Validate asks
// it about every queue leaf.
type QueueChecker func(id uuid.UUID) (exists, takesVoice bool)

// Validate checks a whole tree; the error names the faulty node by its
// path ("root", "root → 2 → timeout").
func Validate(root *Node, queues QueueChecker) error {
	if root == nil {
		return invalidNode("root", "The menu is empty: give it a prompt and options.")
	}
	if root.IsLeaf() {
		return invalidNode("root", "The first node is a menu (a prompt and options), not an action.")
	}
	if countNodes(root, MaxNodes) > MaxNodes {
		return errMenuTooLarge(fmt.Sprintf("at most %d steps (menus and actions)", MaxNodes))
	}
	return validate(root, "root", 1, queues)
}

func invalidNode(where, msg string) error {
	return cic.Codef(cic.EINVALID, "invalid_menu", "%s: %s", where, msg)
}

func validate(n *Node, where string, depth int, queues QueueChecker) error {
	if n == nil {
		return invalidNode(where, "The node is empty.")
	}
	if depth > MaxDepth {
		return invalidNode(where, fmt.Sprintf("Menus nest at most %d deep.", MaxDepth))
	}
	if n.IsLeaf() {
		if n.Prompt != "" || len(n.Options) > 0 || n.Timeout != nil || n.TimeoutSeconds != 0 {
			return invalidNode(where, "An action has no prompt, options or time-out of its own.")
		}
		return validateAction(n.Action, where, queues)
	}
	if strings.TrimSpace(n.Prompt) == "" {
		return invalidNode(where, "A menu needs a prompt (what the caller hears).")
	}
	if len(n.Prompt) > MaxPrompt {
		return invalidNode(where, fmt.Sprintf("A prompt is at most %d characters.", MaxPrompt))
	}
	if len(n.Options) == 0 {
		return invalidNode(where, "A menu needs at least one option (a key and where it leads).")
	}
	if n.TimeoutSeconds != 0 && (n.TimeoutSeconds < 1 || n.TimeoutSeconds > maxTimeoutSec) {
		return invalidNode(where, fmt.Sprintf("timeout_seconds is 1 to %d.", maxTimeoutSec))
	}
	for _, k := range sortedKeys(n.Options) {
		if !validKey(k) {
			return invalidNode(where, fmt.Sprintf("%q is not a key: options are 0-9, * or #.", k))
		}
		if err := validate(n.Options[k], where+" → "+k, depth+1, queues); err != nil {
			return err
		}
	}
	if n.Timeout != nil {
		if err := validate(n.Timeout, where+" → timeout", depth+1, queues); err != nil {
			return err
		}
	}
	return nil
}

func validateAction(a *Action, where string, queues QueueChecker) error {
	if len(a.Message) > MaxPrompt {
		return invalidNode(where, fmt.Sprintf("A message is at most %d characters.", MaxPrompt))
	}
	switch a.Type {
	case ActionQueue:
		if a.QueueID == nil {
			return invalidNode(where, "A queue action names its queue_id.")
		}
		exists, voice := queues(*a.QueueID)
		if !exists {
			return invalidNode(where, "No such queue.")
		}
		if !voice {
			return invalidNode(where, "That queue does not take calls (voice): add the channel to it first.")
		}
		if a.Metered {
			return invalidNode(where, "Only a self-service action is metered by the menu.")
		}
	case ActionSelfService, ActionHangup:
		if a.QueueID != nil {
			return invalidNode(where, "Only a queue action has a queue_id.")
		}
		if strings.TrimSpace(a.Message) == "" {
			return invalidNode(where, "Say something before hanging up: give the action a message.")
		}
		if a.Type == ActionHangup && a.Metered {
			return invalidNode(where, "Only a self-service action is metered.")
		}
	default:
		return invalidNode(where, "The action type is queue, self_service or hangup.")
	}
	return nil
}

// sortedKeys lists options in keypad order, for stable messages and
// prompts.
func sortedKeys(m map[string]*Node) []string {
	order := "1234567890*#"
	out := make([]string, 0, len(m))
	for _, c := range order {
		if _, ok := m[string(c)]; ok {
			out = append(out, string(c))
		}
	}
	for k := range m {
		if !validKey(k) {
			out = append(out, k)
		}
	}
	return out
}

// Queues lists the queues a tree's leaves lead to.
func (n *Node) Queues() []uuid.UUID {
	var out []uuid.UUID
	var walk func(*Node)
	walk = func(x *Node) {
		if x == nil {
			return
		}
		if x.Action != nil && x.Action.QueueID != nil {
			out = append(out, *x.Action.QueueID)
		}
		for _, c := range x.Options {
			walk(c)
		}
		walk(x.Timeout)
	}
	walk(n)
	return out
}
