"""Test suite. Powertools reads its environment when `autoheal.observability` is first imported, as
it does in Lambda where the template's Globals set it before any import: mirror that here."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hyperpod-autoheal")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HyperPodAutoheal")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
