// Package metrics keeps transferd's Prometheus metrics: Transfer Family's CloudWatch metrics
// (BytesIn, BytesOut, FilesIn, FilesOut per server) under Prometheus names, sessions, refusals,
// authentication failures, the algorithms clients negotiate, storage and API requests, and Go's
// runtime and process metrics.
//
// What the activity records tell is counted from the records themselves (Sink), so that a metric
// and the sum of its records always agree. No label takes client-chosen or unbounded values: server
// IDs, algorithm names from the security policies, reasons and operations from fixed sets.
//
// A nil *Metrics counts nothing: code that reports to it needs no check.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transferd/transferd/internal/activity"
)

// Metrics is the process's metrics.
type Metrics struct {
	reg   *prometheus.Registry
	names *[]string // of the transferd_ families, as registered

	bytesIn, bytesOut, filesIn, filesOut *prometheus.CounterVec
	sessionsActive                       *prometheus.GaugeVec
	sessionsTotal                        *prometheus.CounterVec
	refused                              *prometheus.CounterVec
	authFailures                         *prometheus.CounterVec
	kex, ciphers, macs, hostKeyAlgs      *prometheus.CounterVec
	storageSeconds                       *prometheus.HistogramVec
	storageErrors                        *prometheus.CounterVec
	apiRequests                          *prometheus.CounterVec
	workflowExecutions                   *prometheus.CounterVec
}

// New returns the metrics of a process named node (transferd_node_info's label), with Go's
// runtime and process collectors.
func New(node string) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg, new([]string)}
	m := &Metrics{
		reg:            reg,
		names:          f.names,
		bytesIn:        f.counter("bytes_in_total", "Bytes uploaded, as the CLOSE records of uploads count them (Transfer Family's BytesIn).", "server_id"),
		bytesOut:       f.counter("bytes_out_total", "Bytes downloaded, as the CLOSE records count them (Transfer Family's BytesOut).", "server_id"),
		filesIn:        f.counter("files_in_total", "Files uploaded: CLOSE records of files opened for writing (Transfer Family's FilesIn).", "server_id"),
		filesOut:       f.counter("files_out_total", "Files downloaded: CLOSE records of files opened for reading (Transfer Family's FilesOut).", "server_id"),
		sessionsActive: f.gauge("sessions_active", "Sessions logged in now (CONNECTED records without their DISCONNECTED yet).", "server_id"),
		sessionsTotal:  f.counter("sessions_total", "Sessions that logged in (CONNECTED records).", "server_id"),
		refused: f.counter("connections_refused_total",
			"Connections closed before or during their handshake, by reason: a limit (MaxStartups, MaxConnections...), Penalty, ProxyProtocol, or Negotiation (no common algorithm: KEX_FAILURE).", "server_id", "reason"),
		authFailures: f.counter("auth_failures_total", "Failed authentication attempts (AUTH_FAILURE records), by method and reason.", "server_id", "method", "reason"),
		kex:          f.counter("negotiated_kex_total", "Sessions by the key exchange they negotiated (CONNECTED records' kex).", "server_id", "algorithm"),
		ciphers:      f.counter("negotiated_ciphers_total", "Sessions by the ciphers they negotiated, client-to-server,server-to-client (CONNECTED records' ciphers).", "server_id", "algorithm"),
		macs:         f.counter("negotiated_macs_total", "Sessions by the MACs they negotiated, client-to-server,server-to-client (CONNECTED records' macs).", "server_id", "algorithm"),
		hostKeyAlgs:  f.counter("negotiated_host_key_algorithms_total", "Sessions by the host key signature algorithm they negotiated.", "server_id", "algorithm"),
		storageSeconds: f.histogram("storage_request_duration_seconds", "Requests to storage, by backend (s3: S3 API operations, retries included; local: the local store's operations) and operation.",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "backend", "operation"),
		storageErrors: f.counter("storage_request_errors_total", "Requests to storage that failed, by backend and operation.", "backend", "operation"),
		apiRequests:   f.counter("api_requests_total", "Management API requests, by operation and result (OK or the AWS error code).", "operation", "code"),
		workflowExecutions: f.counter("workflow_executions_total",
			"Workflow executions by trigger (OnUpload, OnPartialUpload) and event (started, success, failed): Transfer Family's OnUploadExecutionsStarted/Success/Failed and OnPartialUpload's.", "server_id", "trigger", "event"),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "transferd_node_info", Help: "1, labelled with this process's --node-name.",
		ConstLabels: prometheus.Labels{"node": node}})
	info.Set(1)
	reg.MustRegister(info, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// factory makes and registers transferd_ metrics, and notes their names.
type factory struct {
	reg   *prometheus.Registry
	names *[]string
}

// Names returns the names of the metric families transferd defines (Go's and the process's
// aside), whether or not they have samples yet.
func (m *Metrics) Names() []string { return append([]string{"transferd_node_info"}, *m.names...) }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	*f.names = append(*f.names, "transferd_"+name)
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transferd_" + name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	*f.names = append(*f.names, "transferd_"+name)
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "transferd_" + name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	*f.names = append(*f.names, "transferd_"+name)
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "transferd_" + name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Handler serves the metrics in Prometheus's text format (and OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Gather returns the metrics as Prometheus gathers them (for tests).
func (m *Metrics) Gather() (map[string]float64, error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			var labels []string
			for _, l := range mm.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case mm.Counter != nil:
				out[key] = mm.Counter.GetValue()
			case mm.Gauge != nil:
				out[key] = mm.Gauge.GetValue()
			}
		}
	}
	return out, nil
}

// Refused counts a connection closed before its handshake (or during it) for reason.
func (m *Metrics) Refused(serverID, reason string) {
	if m != nil {
		m.refused.WithLabelValues(serverID, reason).Inc()
	}
}

// StorageRequest counts a request to storage and how long it took.
func (m *Metrics) StorageRequest(backend, operation string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storageSeconds.WithLabelValues(backend, operation).Observe(d.Seconds())
	if err != nil {
		m.storageErrors.WithLabelValues(backend, operation).Inc()
	}
}

// APIRequest counts a management API request; code is "OK" or the AWS error code answered.
func (m *Metrics) APIRequest(operation, code string) {
	if m != nil {
		m.apiRequests.WithLabelValues(operation, code).Inc()
	}
}

// WorkflowExecution counts an execution of a server's workflow starting, succeeding or failing.
func (m *Metrics) WorkflowExecution(serverID, trigger, event string) {
	if m != nil {
		m.workflowExecutions.WithLabelValues(serverID, trigger, event).Inc()
	}
}

// Sink returns a sink that counts the records it passes on to next.
func (m *Metrics) Sink(next activity.Sink) activity.Sink {
	if m == nil {
		return next
	}
	return &sink{m: m, next: next}
}

type sink struct {
	m    *Metrics
	next activity.Sink
}

func (s *sink) Log(r *activity.Record) {
	s.next.Log(r)
	s.m.count(r)
}

// count counts what one record tells.
func (m *Metrics) count(r *activity.Record) {
	server := ServerID(r.ResourceARN)
	switch r.ActivityType {
	case activity.Close:
		if r.BytesIn != "" {
			m.filesIn.WithLabelValues(server).Inc()
			m.bytesIn.WithLabelValues(server).Add(number(r.BytesIn))
		} else if r.BytesOut != "" {
			m.filesOut.WithLabelValues(server).Inc()
		}
		if r.BytesOut != "" {
			m.bytesOut.WithLabelValues(server).Add(number(r.BytesOut))
		}
	case activity.PartialClose:
		// Bytes of a transfer that did not complete are not counted, as Transfer Family counts
		// completed ones.
	case activity.Connected:
		m.sessionsTotal.WithLabelValues(server).Inc()
		m.sessionsActive.WithLabelValues(server).Inc()
		for _, a := range []struct {
			v   *prometheus.CounterVec
			alg string
		}{{m.kex, r.Kex}, {m.ciphers, r.Ciphers}, {m.macs, r.Macs}, {m.hostKeyAlgs, r.HostKeyAlgorithm}} {
			if a.alg != "" {
				a.v.WithLabelValues(server, a.alg).Inc()
			}
		}
	case activity.Disconnected:
		m.sessionsActive.WithLabelValues(server).Dec()
	case activity.AuthFailure:
		reason := r.Reason
		if reason == "" {
			reason = "Refused"
		}
		m.authFailures.WithLabelValues(server, r.Method, reason).Inc()
	case activity.KexFailure:
		m.refused.WithLabelValues(server, "Negotiation").Inc()
	}
}

// ServerID is the server ID at the end of a server's ARN ("" when arn names none).
func ServerID(arn string) string {
	_, id, ok := strings.Cut(arn, ":server/")
	if !ok {
		return ""
	}
	return id
}

// number reads a record's byte count (0 when it is not a number).
func number(s string) float64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return float64(n)
}
