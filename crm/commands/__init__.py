"""Command-line command groups; each module registers its subcommands with argparse."""
