"""Dual-ATME (Entropy 2023) reference plug-in set for mertk."""
