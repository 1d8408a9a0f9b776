"""lstmattn: companion package to Ter-Sarkisov (2021), *One Shot Model for COVID-19
Classification and Lesions Segmentation in Chest CT Scans Using LSTM with Attention
Mechanism*."""

__version__ = "0.1.0"

__all__ = ["__version__"]
