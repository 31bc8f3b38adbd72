"""The HTTP API: FastAPI over db/ and the torch-free parts of trainer/. Never imports worker/ or
torch; it sends tasks to the broker by name (api/broker.py)."""
