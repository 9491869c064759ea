"""Prometheus, Alertmanager and Grafana configuration: rendering, dashboards, queries."""
