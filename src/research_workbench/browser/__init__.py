"""The public Data Browser: small-count-protected aggregates of a release, and the app that serves them."""
