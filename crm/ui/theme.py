"""The app's colours, named once. ACCENT is also Streamlit's `primaryColor` in
`.streamlit/config.toml` (a test keeps the two the same), so charts match buttons and links."""

ACCENT = "#0f766e"  # teal: the app's own colour, and "delivered"
ACCENT_LIGHT = "#99d5ce"  # the accent behind it: a part next to the whole
NEUTRAL = "#64748b"  # slate: under way, not yet settled
WARNING = "#f59e0b"  # amber: read this bar differently (a negated group)
FAILURE = "#b91c1c"  # red: failed

DELIVERY_COLOURS = {"sent": NEUTRAL, "delivered": ACCENT, "failed": FAILURE}
