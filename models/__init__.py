"""Faust Records: the wire contracts of events and commands."""
