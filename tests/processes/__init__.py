"""The app as processes: the command line, serve, the API server, the embedded database's lifecycle and crashes."""
