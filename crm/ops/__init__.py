"""Operating the app: the status of each part it depends on."""
