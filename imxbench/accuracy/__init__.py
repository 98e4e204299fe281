"""Accuracy on the device (`run --dataset`): data sets, preprocessing, the host reference,
the board-side evaluation and its summary."""
