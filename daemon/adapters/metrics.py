"""The Prometheus endpoint: prometheus_client's HTTP server and one collector that reads the store.

Nothing is counted in this process: at each scrape the collector reads the store
(store/ops.py, store/ops_metrics.py) and builds the metric families from the rows, so the
figures are right after a restart and include the work of every process on the store.
Served only on a loopback address (`[metrics] listen`, off by default); the endpoint
carries no mail content, only counts, ages and staff addresses as labels.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from daemon.cli.report import percentile
from daemon.clock import Clock
from daemon.core.settings import Settings
from daemon.runners.health import read_summary
from store.ops_metrics import RESPONSE_WINDOW_DAYS, metrics_view

log = logging.getLogger("oneassist.metrics")
P = "oneassist_"


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(P + name, doc, labels=list(labels or {}))
    if value is not None:
        family.add_metric(list((labels or {}).values()), value)
    return family


def _age(now, moment) -> float:
    return 0.0 if moment is None else max(0.0, (now - moment).total_seconds())


class DeskCollector:
    """Builds every family from one store read per scrape."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        health, summary = read_summary(self.settings, now)
        view = metrics_view(now)
        yield _gauge("status", "The verdict of `oneassist status`: 0 OK, 1 WARNING, 2 CRITICAL", summary.level)
        yield CounterMetricFamily(P + "mails_fetched", "Mails fetched from IMAP into the spool", value=view.fetched)
        processed = CounterMetricFamily(P + "mails_processed", "Spooled mails processed, by state and outcome",
                                        labels=["state", "outcome"])
        for (state, outcome), count in sorted(view.processed.items()):
            processed.add_metric([state, outcome], count)
        yield processed
        yield _gauge("spool_pending", "Spooled mails waiting to be processed", health.spool_pending)
        yield _gauge("spool_oldest_pending_age_seconds", "Age of the oldest unprocessed mail (0: none)",
                     _age(now, health.spool_oldest))
        outbox = GaugeMetricFamily(P + "outbox_mails", "Outbox rows by status", labels=["status"])
        for status in ("pending", "sending", "sent", "dead"):
            outbox.add_metric([status], health.outbox.get(status, 0))
        yield outbox
        yield _gauge("outbox_oldest_unsent_age_seconds", "Age of the oldest pending or sending mail (0: none)",
                     _age(now, health.outbox_oldest_unsent))
        sends = CounterMetricFamily(P + "sends", "SMTP send attempts by result (sent, retry, dead)",
                                    labels=["result"])
        for result in sorted({"sent", "retry", "dead", *view.sends}):
            sends.add_metric([result], view.sends.get(result, 0))
        yield sends
        yield HistogramMetricFamily(P + "ack_latency_seconds",
                                    "Acknowledgements: the task's INTERNALDATE to the SMTP server's 250",
                                    buckets=view.ack_buckets, sum_value=view.ack_sum)
        yield from self._managers(view)
        yield _gauge("timers_due", "Timers due and not yet fired", view.timers_due)
        yield _gauge("imap_up", "1 while the fetcher's IMAP connection works", 1 if health.imap_up else 0)
        yield _gauge("imap_last_fetch_age_seconds", "Seconds since the last successful fetch pass",
                     None if health.fetch_ok_at is None else _age(now, health.fetch_ok_at))
        yield CounterMetricFamily(P + "imap_fetch_passes", "Successful fetch passes", value=view.fetch_passes)
        yield _gauge("quarantine_mails", "Mails in quarantine", health.quarantined)
        yield from self._tokens(health)

    def _managers(self, view) -> Iterator[Metric]:
        breaches = CounterMetricFamily(P + "sla_breaches", "First-response breaches per manager",
                                       labels=["manager"])
        for manager, count in sorted(view.breaches.items()):
            breaches.add_metric([manager], count)
        yield breaches
        doc = f"First-response time per manager over the last {RESPONSE_WINDOW_DAYS} days"
        times = GaugeMetricFamily(P + "first_response_seconds", doc, labels=["manager", "quantile"])
        for manager, values in sorted(view.responses.items()):
            for q in (0.5, 0.9):
                times.add_metric([manager, f"{q:g}"], percentile(values, q))
        yield times

    def _tokens(self, health) -> Iterator[Metric]:
        ok = GaugeMetricFamily(P + "oauth2_token_ok", "1 when the last token command run worked",
                               labels=["protocol"])
        expiry = GaugeMetricFamily(P + "oauth2_token_expiry_timestamp_seconds", "When the token expires",
                                   labels=["protocol"])
        for token in health.tokens:
            ok.add_metric([token.protocol], 1 if token.ok else 0)
            if token.expires_at is not None:
                expiry.add_metric([token.protocol], token.expires_at.timestamp())
        yield ok
        yield expiry


def serve(settings: Settings, clock: Clock) -> tuple[WSGIServer, threading.Thread] | None:
    """Start the endpoint when `[metrics] listen` is set; returns the server to shut down."""
    m = settings.metrics
    if not m.enabled:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(settings, clock))
    server, thread = start_http_server(m.port, addr=m.host, registry=registry)
    log.info("metrics: serving on %s:%s/metrics", m.host, m.port)
    return server, thread
