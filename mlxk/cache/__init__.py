"""The HF cache: scanning, naming, detection, health, removal and download."""
