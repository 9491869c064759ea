"""The alert webhook receiver: records what Alertmanager sends, serves it to the control panel."""
