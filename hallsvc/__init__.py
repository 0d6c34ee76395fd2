"""hallsvc: an asynchronous server for a government service hall."""

__version__ = "0.1.0"
