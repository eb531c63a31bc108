"""gefu-bench: does low-light enhancement help machines see in the dark?"""

__version__ = "0.1.0"
