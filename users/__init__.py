"""The users domain and its service layer: no Faust, no database driver."""
