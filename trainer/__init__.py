"""The trainer: the two-phase SGD algorithm of Lee, Oko, Suzuki and Wu (2024), in pure PyTorch.

Importing the package imports no torch: `trainer.spec`, `trainer.expr` and `trainer.hermite` are
torch-free so the API can validate specs without it. `trainer.train.run` is the entry point.
"""
