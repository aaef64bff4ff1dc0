"""Training recipes: one module per model of the CLI, holding what is particular to training it (its
command-line arguments, its data, the run); the architecture itself lives in ``tinygrad_lm.models``.

A recipe exposes ``add_arguments(parser, command, model)`` and ``train(args)`` (and ``generate(args)`` for a
language model); ``tinygrad_lm.cli.MODELS`` maps a name to it. Models never import recipes.
"""
