"""The base layer: config errors, the strict YAML reader and spec models, constructor-parameter
checks, hashing and the registry. Every other package may import it; it imports none of them."""
