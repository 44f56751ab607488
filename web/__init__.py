"""HTTP views on Faust's web server, found by the app's autodiscovery."""
