"""Where fallbacks show up outside the process: OpenTelemetry traces and metrics, Prometheus, a local usage log.

Each is a plugin built on call observers (``understudy.calls.observers``) and on one record of each call
(``records``); ``measures`` names the metrics both OpenTelemetry and Prometheus report. None of them is imported by
``import understudy``. docs/observability.md shows how to switch each on.
"""
