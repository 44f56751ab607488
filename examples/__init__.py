"""Examples of code that other teams write against this service's contracts."""
