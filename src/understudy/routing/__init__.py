"""Routing: the ``Router`` protocol, the match and tiered routers, sessions, and ``RoutedLLM``."""
