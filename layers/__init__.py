"""The 2025 Xiangtan work plan's domain: layers, targets, demo data and spatial-progress queries."""
