"""What the machine offers plug-ins: the device probe (torch-free, NVML through ctypes)."""
