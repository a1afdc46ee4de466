"""Where events enter: `POST /v1/collect`, the event schema, ingest, and the snippet `/t.js`."""
