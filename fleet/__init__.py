"""fleet: the recovery agent of a hydro 2.0 site."""

__version__ = "0.1.0"
