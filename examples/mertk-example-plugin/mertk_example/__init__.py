"""Example third-party mertk plugin: ECA attention and Poly-1 loss."""

__version__ = "0.2.0"
