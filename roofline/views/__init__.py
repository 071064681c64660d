"""Pure view frames for the dashboard and the reports (no streamlit, no plotly): one module per screen
family (hardware, workload, selection, measured, energy, verdict) plus common (formats) and palette (colours)."""
