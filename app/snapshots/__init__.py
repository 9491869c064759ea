"""The snapshot job: closed windows of the prediction log -> Evidently snapshots + Prometheus metrics."""
