"""Training methods, one file each; registered by name in ``gefu.train.METHODS``."""
