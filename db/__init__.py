"""SQLAlchemy 2.0 models and the queries shared by the API and the worker. Imports nothing else of
ours."""
