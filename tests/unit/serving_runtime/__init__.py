"""Unit tests of the serving runtime: pure code, no servers."""
