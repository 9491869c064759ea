"""The Streamlit control panel: `ventwatch panel` runs streamlit_app.py; its logic lives in app/."""
