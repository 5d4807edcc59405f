"""Profiles: the ``Profile`` model (``profile``), reading profile files (``files``) and the ``ProfileStore``."""
