"""Plain logic behind the Streamlit control panel: background replays, status probes, snapshot windows."""
