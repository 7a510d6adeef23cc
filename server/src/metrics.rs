//! Prometheus metrics (`/metrics`, OpenMetrics text): requests and latencies per route, time to
//! first token, answers by kind, queue depth, generations in flight, rejections, offers of a
//! human agent, handoffs by reason and tickets waiting.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub ttft: Histogram,
    pub answers: Family<KindLabels, Counter>,
    pub rejected: Counter,
    pub human_offers: Counter,
    pub handoffs: Family<ReasonLabels, Counter>,
    pub tickets_waiting: Gauge<i64, AtomicI64>,
    pub waiting: Gauge<i64, AtomicI64>,
    pub in_flight: Gauge<i64, AtomicI64>,
    pub compute_queue: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("banshi");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.0, 14)));
        let ttft = Histogram::new(exponential_buckets(0.05, 2.0, 10));
        let m = Metrics {
            requests,
            latency,
            ttft,
            answers: Family::default(),
            rejected: Counter::default(),
            human_offers: Counter::default(),
            handoffs: Family::default(),
            tickets_waiting: Gauge::default(),
            waiting: Gauge::default(),
            in_flight: Gauge::default(),
            compute_queue: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests by route and status", m.requests.clone());
        registry.register("http_request_duration_seconds", "Time to response headers by route", m.latency.clone());
        registry.register("time_to_first_token_seconds", "From message receipt to the first answer token", m.ttft.clone());
        registry.register("answers", "Finished answers by kind (generated, extractive, clarified, declined …)", m.answers.clone());
        registry.register("rejected_busy", "Messages refused with 429 because the wait queue was full", m.rejected.clone());
        registry.register("human_offers", "Answers that offered a human agent", m.human_offers.clone());
        registry.register("handoffs", "Conversations handed to the agent queue, by reason", m.handoffs.clone());
        registry.register("tickets_waiting", "Handoff and follow-up tickets waiting for an agent", m.tickets_waiting.clone());
        registry.register("queue_waiting", "Messages waiting for a generation slot", m.waiting.clone());
        registry.register("generations_in_flight", "Answers being produced now", m.in_flight.clone());
        registry.register("compute_queue_depth", "Jobs queued on the model compute thread", m.compute_queue.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lists_the_metrics() {
        let m = Metrics::default();
        m.requests.get_or_create(&RequestLabels { method: "GET".into(), route: "/healthz".into(), status: 200 }).inc();
        m.ttft.observe(0.4);
        let text = m.encode();
        assert!(text.contains("banshi_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("banshi_time_to_first_token_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
