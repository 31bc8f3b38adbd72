"""The Celery worker: claims experiments, runs the trainer, persists results.

Imports db and trainer."""
