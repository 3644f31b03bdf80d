// Package fax is the fax channel (work in progress).
package fax

// Service is the fax channel of every tenant.
type Service struct{}
