"""Every figure of scratchdl, and the only package that imports matplotlib.

Each module draws one kind of figure from plain data (tensors, lists of rows) and writes PNG
and PDF files: _sheet (the look and the save), curves, charts and radar (the workbench),
attention and alignment, boxes and detection, segmentation, grids (image grids), style,
generative, explain, confusion, zipf, ablate, batch_size, search, transfer, kernel_regression.
Computing what is drawn (running a model, reading the store) happens in the callers.
"""
