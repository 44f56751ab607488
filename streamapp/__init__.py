"""The Faust application and its settings; nothing else lives here."""
