"""The migration itself: its phase (read by the writer), the gates that move it, preflight."""
