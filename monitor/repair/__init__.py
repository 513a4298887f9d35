"""`dualwrite-monitor repair`: plan (a pure function of findings and the phase), then apply."""
