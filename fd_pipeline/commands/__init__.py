"""The `fd-pipeline` subcommands that drive the pipeline: status, search, demo, ui."""
