"""The base layer: config errors, the strict YAML reader and spec models, constructor-parameter
checks, hashing, the registry and the checkpoint reader. Every other package may import it; it
imports none of them."""
