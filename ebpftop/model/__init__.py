"""Pure model: samples in, immutable view data out. Imports neither bcc nor textual."""
