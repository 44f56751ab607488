"""Stream processors, found by the app's autodiscovery."""
