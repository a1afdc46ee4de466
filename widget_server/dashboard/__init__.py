"""The dashboard at /dashboard: pages for merchants and analysts, rendered on the server."""
