// Package voice is the call channel (work in progress).
package voice

// Service is the call channel of every tenant.
type Service struct{}
