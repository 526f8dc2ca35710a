"""What a question request may hold, in one place: the HTTP API (validation.py, and the OpenAPI
document that states it, openapi.py) and batch answering read these."""

MAX_QUESTION = 1000  # characters
MAX_TOP_K = 20
DEFAULT_TOP_K = 3
# The largest request body (HTTP) or input line (batch), in bytes.
MAX_BODY = 16 * 1024
