"""Baseline MER methods for comparison with Dual-ATME: STSTNet, Off-ApexNet, Dual-Inception,
ResNet-18 (timm, from scratch) and LBP-TOP + linear SVM, each with a bundled config."""
