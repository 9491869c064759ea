"""The ventwatch control panel: `ventwatch panel` runs it (streamlit run control_panel/streamlit_app.py)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.panel.access import password_of, password_ok
from control_panel import state

HERE = Path(__file__).parent
SIGNED_IN = "signed_in"

st.set_page_config(page_title="ventwatch control panel", page_icon=":material/air:", layout="wide")
state.init()
settings = state.settings()


def sign_in() -> None:
    """Nothing else is shown until the password (VENTWATCH_PANEL_PASSWORD) is given."""
    st.title("ventwatch control panel")
    with st.form("signin_form"):
        given = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_ok(given, settings.panel_password):
            st.session_state[SIGNED_IN] = True
            del st.session_state["signin_password"]
            st.rerun()
        st.error("Wrong password.")


if password_of(settings.panel_password) is not None and not st.session_state.get(SIGNED_IN):
    sign_in()
    st.stop()

pages = [
    st.Page(HERE / "pages" / "drift_lab.py", title="Drift lab", icon=":material/tune:", default=True),
    st.Page(HERE / "pages" / "replay.py", title="Replay", icon=":material/play_circle:"),
    st.Page(HERE / "pages" / "labels.py", title="Labels", icon=":material/label:"),
    st.Page(HERE / "pages" / "snapshots.py", title="Snapshots", icon=":material/monitoring:"),
    st.Page(HERE / "pages" / "status.py", title="Status", icon=":material/health_and_safety:"),
]
page = st.navigation(pages)
with st.sidebar:
    api = state.api_status(settings.api_url)
    st.caption(f"{':green[●]' if api.ok else ':red[●]'} API {settings.api_url}: "
               f"{'up' if api.ok else 'down'}")
page.run()
