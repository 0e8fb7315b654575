"""Lambda Ingest: validates clickstream events from API Gateway (HTTP API, payload 2.0) and stores them in S3.

Entry point: `clickstream_ingest.handler.handler(event, context)`. Nothing in this package does I/O at import time.
"""
