package chargeback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/gzip"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Store keeps report files. Every file is gzip-compressed as it is
// written (a per-contact CSV compresses about tenfold) and described by a
// report_files row, read under row-level security, so a file is only ever
// found through its own tenant's transaction. DBStore keeps the bytes in
// PostgreSQL (the default: server and worker replicas share them with no
// shared disk); DirStore in files under a folder they all mount.
type Store interface {
	// Create starts a file; the caller writes the raw bytes and closes it
	// (Abort on failure). A file of the same report and format is replaced.
	Create(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (FileWriter, error)
	// Open opens a complete file for reading.
	Open(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (*File, error)
	// Delete removes every file of a report (the report row stays).
	Delete(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID) error
}

// FileWriter takes a file's raw bytes.
type FileWriter interface {
	io.Writer
	// Close finishes the file; only then can it be opened.
	Close() error
	// Abort drops what was written.
	Abort()
}

// File is a stored file: its bytes as stored (gzip), for handing to a
// client that accepts gzip, or Raw to read them decompressed.
type File struct {
	Format string
	// Size is the stored (compressed) size and RawSize the file's own.
	Size, RawSize int64
	// ETag is a strong validator of the stored bytes.
	ETag string
	// Gzip is true when the stored bytes are gzip (always, for now).
	Gzip bool
	io.ReadCloser
}

// Raw returns the file's own bytes, decompressing as it reads.
func (f *File) Raw() (io.ReadCloser, error) {
	if !f.Gzip {
		return f.ReadCloser, nil
	}
	zr, err := gzip.NewReader(f.ReadCloser)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w", f.Format, err)
	}
	return &gzipReadCloser{zr: zr, under: f.ReadCloser}, nil
}

type gzipReadCloser struct {
	zr    *gzip.Reader
	under io.Closer
}

func (g *gzipReadCloser) Read(p []byte) (int, error) { return g.zr.Read(p) }
func (g *gzipReadCloser) Close() error {
	_ = g.zr.Close()
	return g.under.Close()
}

var errNoFile = cic.Codef(cic.ENOTFOUND, "not_found", "No such report file.")

// chunkSize is the size of one stored piece of a file in PostgreSQL: big
// enough that a 50 MB file is a few dozen inserts, small enough that
// reading and writing hold little memory.
const chunkSize = 1 << 20

// blockSize is how much raw text is handed to the compressing goroutine
// at once.
const blockSize = 256 << 10

// beginFile (re)creates the report_files row of a file being written.
func beginFile(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format, location string) error {
	return db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM report_files WHERE tenant_id = $1 AND report_id = $2 AND format = $3`,
			tenantID, reportID, format); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO report_files (tenant_id, report_id, format, encoding, location) VALUES ($1, $2, $3, 'gzip', $4)`,
			tenantID, reportID, format, location)
		return err
	})
}

func finishFile(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string, size, raw int64, sum []byte) error {
	return db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE report_files SET size = $4, raw_size = $5, sha256 = $6, complete = true
			WHERE tenant_id = $1 AND report_id = $2 AND format = $3`, tenantID, reportID, format, size, raw, sum)
		return err
	})
}

// fileRow is what report_files says about a complete file.
type fileRow struct {
	location  string
	size, raw int64
	sum       []byte
}

func loadFile(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (fileRow, error) {
	var f fileRow
	err := db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT location, size, raw_size, sha256 FROM report_files
			WHERE tenant_id = $1 AND report_id = $2 AND format = $3 AND complete`, tenantID, reportID, format).
			Scan(&f.location, &f.size, &f.raw, &f.sum)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return f, errNoFile
	}
	if err != nil {
		return f, fmt.Errorf("report file: %w", err)
	}
	return f, nil
}

func etag(sum []byte) string {
	if len(sum) < 12 {
		return ""
	}
	return fmt.Sprintf(`"%x"`, sum[:12])
}

// pipeline compresses the raw bytes written to it in a goroutine of its
// own, so formatting rows and compressing them overlap, and hands the
// compressed bytes to the sink. It holds a few blocks, whatever the size.
type pipeline struct {
	blocks chan []byte
	free   chan []byte
	cur    []byte
	done   chan struct{}
	// failed is closed when the sink fails; err says why.
	failed   chan struct{}
	err      error
	raw      int64
	size     int64
	hash     []byte
	finished bool
	aborted  bool
}

func newPipeline(sink io.Writer) *pipeline {
	p := &pipeline{blocks: make(chan []byte, 4), free: make(chan []byte, 6), done: make(chan struct{}), failed: make(chan struct{})}
	for range 6 {
		p.free <- make([]byte, 0, blockSize)
	}
	p.cur = <-p.free
	go p.run(sink)
	return p
}

// countingWriter counts and hashes what goes to the sink.
type countingWriter struct {
	w    io.Writer
	n    int64
	hash hash.Hash
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	_, _ = c.hash.Write(b[:n])
	return n, err
}

func (p *pipeline) run(sink io.Writer) {
	defer close(p.done)
	cw := &countingWriter{w: sink, hash: sha256.New()}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	var err error
	for b := range p.blocks {
		if err == nil {
			if _, err = zw.Write(b); err != nil {
				p.err = err
				close(p.failed)
			}
		}
		p.free <- b[:0]
	}
	if err == nil && !p.aborted {
		if err = zw.Close(); err != nil {
			p.err = err
			close(p.failed)
		}
	}
	p.size, p.hash = cw.n, cw.hash.Sum(nil)
}

func (p *pipeline) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		room := blockSize - len(p.cur)
		if room == 0 {
			if err := p.flushBlock(); err != nil {
				return n - len(b), err
			}
			continue
		}
		k := min(room, len(b))
		p.cur = append(p.cur, b[:k]...)
		b = b[k:]
	}
	p.raw += int64(n)
	return n, nil
}

func (p *pipeline) flushBlock() error {
	select {
	case <-p.failed:
		return p.err
	case p.blocks <- p.cur:
	}
	p.cur = <-p.free
	return nil
}

// finish hands over the last block and waits for the compressor.
func (p *pipeline) finish() error {
	if p.finished {
		return errors.New("report file: closed twice")
	}
	p.finished = true
	if len(p.cur) > 0 {
		p.blocks <- p.cur
	}
	close(p.blocks)
	<-p.done
	return p.err
}

// stop ends the compressor without keeping what it made.
func (p *pipeline) stop() {
	if p.finished {
		return
	}
	p.finished, p.aborted = true, true
	close(p.blocks)
	<-p.done
}

// DBStore keeps files in PostgreSQL, as rows of report_chunks.
type DBStore struct{}

// chunkSink writes the compressed stream as 1 MiB chunks, each in a
// transaction of its own (a file is not visible until it is complete),
// from a goroutine of its own: PostgreSQL stores one chunk while the next
// is compressed and more rows are read. It holds three chunks at most.
type chunkSink struct {
	ctx              context.Context
	db               *tenant.DB
	tenantID, report uuid.UUID
	format           string
	buf              []byte
	full             chan []byte
	free             chan []byte
	done             chan struct{}
	// failed is closed when an insert fails; err says why.
	failed  chan struct{}
	err     error
	aborted bool
	closed  bool
}

func newChunkSink(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) *chunkSink {
	c := &chunkSink{ctx: ctx, db: db, tenantID: tenantID, report: reportID, format: format,
		full: make(chan []byte, 1), free: make(chan []byte, 3), done: make(chan struct{}), failed: make(chan struct{})}
	for range 3 {
		c.free <- make([]byte, 0, chunkSize)
	}
	c.buf = <-c.free
	go c.insert()
	return c
}

func (c *chunkSink) insert() {
	defer close(c.done)
	seq := 0
	for data := range c.full {
		if c.err == nil && !c.aborted {
			err := c.db.Tx(c.ctx, c.tenantID, func(tx pgx.Tx) error {
				_, err := tx.Exec(c.ctx, `INSERT INTO report_chunks (tenant_id, report_id, format, seq, data) VALUES ($1, $2, $3, $4, $5)`,
					c.tenantID, c.report, c.format, seq, data)
				return err
			})
			if err != nil {
				c.err = fmt.Errorf("store chunk %d: %w", seq, err)
				close(c.failed)
			}
			seq++
		}
		c.free <- data[:0]
	}
}

func (c *chunkSink) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(chunkSize-len(c.buf), len(b))
		c.buf = append(c.buf, b[:k]...)
		b = b[k:]
		if len(c.buf) == chunkSize {
			if err := c.send(); err != nil {
				return n - len(b), err
			}
		}
	}
	return n, nil
}

func (c *chunkSink) send() error {
	select {
	case <-c.failed:
		return c.err
	case c.full <- c.buf:
	}
	c.buf = <-c.free
	return nil
}

// close stores what is left and waits for every insert.
func (c *chunkSink) close() error {
	if c.closed {
		return errors.New("report file: closed twice")
	}
	c.closed = true
	var err error
	if len(c.buf) > 0 {
		err = c.send()
	}
	close(c.full)
	<-c.done
	if err != nil {
		return err
	}
	return c.err
}

// abort stops the inserts; what was stored goes with the file's row.
func (c *chunkSink) abort() {
	if c.closed {
		return
	}
	c.closed, c.aborted = true, true
	close(c.full)
	<-c.done
}

type dbFileWriter struct {
	*pipeline
	sink *chunkSink
}

// Create starts a file in PostgreSQL.
func (DBStore) Create(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (FileWriter, error) {
	if err := beginFile(ctx, db, tenantID, reportID, format, "db"); err != nil {
		return nil, fmt.Errorf("create report file: %w", err)
	}
	s := newChunkSink(ctx, db, tenantID, reportID, format)
	return &dbFileWriter{pipeline: newPipeline(s), sink: s}, nil
}

func (w *dbFileWriter) Close() error {
	if err := w.finish(); err != nil {
		w.sink.abort()
		return err
	}
	if err := w.sink.close(); err != nil {
		return err
	}
	return finishFile(w.sink.ctx, w.sink.db, w.sink.tenantID, w.sink.report, w.sink.format, w.size, w.raw, w.hash)
}

func (w *dbFileWriter) Abort() {
	w.stop()
	w.sink.abort()
}

// Open reads a file chunk by chunk, each in its own short transaction.
func (DBStore) Open(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (*File, error) {
	f, err := loadFile(ctx, db, tenantID, reportID, format)
	if err != nil {
		return nil, err
	}
	r := &chunkReader{db: db, tenantID: tenantID, report: reportID, format: format}
	return &File{Format: format, Size: f.size, RawSize: f.raw, ETag: etag(f.sum), Gzip: true, ReadCloser: r}, nil
}

// chunkReader reads chunks in order. It reads after the handler that
// opened it has returned (a streamed response), so it keeps no request
// context: each chunk has its own timeout.
type chunkReader struct {
	db               *tenant.DB
	tenantID, report uuid.UUID
	format           string
	seq              int
	cur              []byte
	eof              bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) next() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var data []byte
	err := r.db.Tx(ctx, r.tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT data FROM report_chunks WHERE tenant_id = $1 AND report_id = $2 AND format = $3 AND seq = $4`,
			r.tenantID, r.report, r.format, r.seq).Scan(&data)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		r.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read chunk %d: %w", r.seq, err)
	}
	r.seq++
	r.cur = data
	return nil
}

func (r *chunkReader) Close() error { return nil }

// Delete removes the report's files (their chunks go with them).
func (DBStore) Delete(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID) error {
	return deleteRows(ctx, db, tenantID, reportID)
}

func deleteRows(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID) error {
	return db.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM report_files WHERE tenant_id = $1 AND report_id = $2`, tenantID, reportID)
		return err
	})
}

// DirStore keeps files under Dir (REPORTS_DIR), one folder per tenant and
// report: Dir/<tenant>/<report>/<format>.gz. Every server and worker
// replica must see the same folder. The path is made from ids the caller
// read under row-level security, never from user input.
type DirStore struct {
	Dir string
}

func (d DirStore) rel(tenantID, reportID uuid.UUID, format string) string {
	return filepath.Join(tenantID.String(), reportID.String(), format+".gz")
}

type dirSink struct {
	f *os.File
}

func (s *dirSink) Write(b []byte) (int, error) { return s.f.Write(b) }

type dirFileWriter struct {
	*pipeline
	ctx              context.Context
	db               *tenant.DB
	tenantID, report uuid.UUID
	format           string
	f                *os.File
	final            string
}

// Create starts a file under Dir; it appears under its name on Close.
func (d DirStore) Create(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (FileWriter, error) {
	rel := d.rel(tenantID, reportID, format)
	final := filepath.Join(d.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return nil, fmt.Errorf("create report file: %w", err)
	}
	if err := beginFile(ctx, db, tenantID, reportID, format, rel); err != nil {
		return nil, fmt.Errorf("create report file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(final), format+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create report file: %w", err)
	}
	return &dirFileWriter{pipeline: newPipeline(&dirSink{f: f}), ctx: ctx, db: db, tenantID: tenantID, report: reportID,
		format: format, f: f, final: final}, nil
}

func (w *dirFileWriter) Close() error {
	err := w.finish()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.final)
	}
	if err != nil {
		_ = os.Remove(w.f.Name())
		return fmt.Errorf("write report file: %w", err)
	}
	return finishFile(w.ctx, w.db, w.tenantID, w.report, w.format, w.size, w.raw, w.hash)
}

func (w *dirFileWriter) Abort() {
	w.stop()
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// Open opens a complete file.
func (d DirStore) Open(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID, format string) (*File, error) {
	row, err := loadFile(ctx, db, tenantID, reportID, format)
	if err != nil {
		return nil, err
	}
	if row.location == "db" {
		// Made before REPORTS_DIR was set: still in PostgreSQL.
		return DBStore{}.Open(ctx, db, tenantID, reportID, format)
	}
	// The stored location is ours, but rebuild it from the ids anyway.
	if row.location != d.rel(tenantID, reportID, format) {
		return nil, fmt.Errorf("report file %s: stored at %q, not under REPORTS_DIR", format, row.location)
	}
	f, err := os.Open(filepath.Join(d.Dir, row.location))
	if err != nil {
		return nil, fmt.Errorf("open report file: %w", err)
	}
	return &File{Format: format, Size: row.size, RawSize: row.raw, ETag: etag(row.sum), Gzip: true, ReadCloser: f}, nil
}

// Delete removes the report's folder and its rows.
func (d DirStore) Delete(ctx context.Context, db *tenant.DB, tenantID, reportID uuid.UUID) error {
	if err := os.RemoveAll(filepath.Join(d.Dir, tenantID.String(), reportID.String())); err != nil {
		return fmt.Errorf("delete report files: %w", err)
	}
	return deleteRows(ctx, db, tenantID, reportID)
}

// writeSmall stores a small file held in memory (the groups CSV, the PDF).
func writeSmall(ctx context.Context, st Store, db *tenant.DB, tenantID, reportID uuid.UUID, format string, b []byte) error {
	w, err := st.Create(ctx, db, tenantID, reportID, format)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}
