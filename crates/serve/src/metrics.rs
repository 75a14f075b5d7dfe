//! The counters behind `GET /metrics`, written in the Prometheus text format. Five series do
//! not need a metrics registry crate: a mutex-held map and two atomics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// One route's latency histogram.
#[derive(Default, Clone)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Requests, latencies, rejected inputs and the queue.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Latency>>,
    rejected_inputs: AtomicUsize,
    answered_inputs: AtomicUsize,
    queued: AtomicUsize,
}

impl Metrics {
    /// Counts a finished request on `route` with `status`, taking `seconds`.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let l = latency.entry(route.to_string()).or_default();
            l.count += 1;
            l.sum += seconds;
            for (bucket, bound) in l.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
        }
    }

    /// Counts inputs answered and inputs rejected by the model.
    pub fn inputs(&self, answered: usize, rejected: usize) {
        self.answered_inputs.fetch_add(answered, Ordering::Relaxed);
        self.rejected_inputs.fetch_add(rejected, Ordering::Relaxed);
    }

    /// A request starts waiting for a worker (`true`) or stops waiting (`false`).
    pub fn queue(&self, waiting: bool) {
        if waiting {
            self.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text of every series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP medpath_requests_total HTTP requests by route and status.\n# TYPE medpath_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "medpath_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP medpath_request_seconds Request latency by route, queueing included.\n# TYPE medpath_request_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, l) in latency.iter() {
                for (bound, n) in BUCKETS.iter().zip(l.buckets) {
                    let _ = writeln!(
                        out,
                        "medpath_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "medpath_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\nmedpath_request_seconds_sum{{route=\"{route}\"}} {}\nmedpath_request_seconds_count{{route=\"{route}\"}} {}",
                    l.count, l.sum, l.count
                );
            }
        }
        let _ = write!(
            out,
            "# HELP medpath_inputs_total Inputs (images, beats) answered or rejected by the model.\n# TYPE medpath_inputs_total counter\nmedpath_inputs_total{{outcome=\"answered\"}} {}\nmedpath_inputs_total{{outcome=\"rejected\"}} {}\n# HELP medpath_queue_depth Requests waiting for a worker.\n# TYPE medpath_queue_depth gauge\nmedpath_queue_depth {}\n",
            self.answered_inputs.load(Ordering::Relaxed),
            self.rejected_inputs.load(Ordering::Relaxed),
            self.queued.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_counts_requests_latencies_inputs_and_the_queue() {
        let m = Metrics::default();
        m.request("/v1/predict", 200, 0.3);
        m.request("/v1/predict", 200, 0.01);
        m.request("/v1/predict", 415, 0.001);
        m.inputs(3, 1);
        m.queue(true);
        let text = m.render();
        assert!(text.contains("medpath_requests_total{route=\"/v1/predict\",status=\"200\"} 2"));
        assert!(text.contains("medpath_requests_total{route=\"/v1/predict\",status=\"415\"} 1"));
        assert!(
            text.contains("medpath_request_seconds_bucket{route=\"/v1/predict\",le=\"0.05\"} 2")
        );
        assert!(
            text.contains("medpath_request_seconds_bucket{route=\"/v1/predict\",le=\"0.5\"} 3")
        );
        assert!(text.contains("medpath_request_seconds_count{route=\"/v1/predict\"} 3"));
        assert!(text.contains("medpath_inputs_total{outcome=\"rejected\"} 1"));
        assert!(text.contains("medpath_queue_depth 1"));
    }
}
