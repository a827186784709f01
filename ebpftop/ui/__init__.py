"""Textual UI: renders immutable Frames; never touches bcc, asks its source for everything."""
