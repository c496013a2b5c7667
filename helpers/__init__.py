"""Shared, importable pieces of the U-Net segmentation workbook (one module per concept)."""

__version__ = "0.1.0"
