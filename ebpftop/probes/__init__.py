"""Kernel side: the only package that imports bcc. Probes compile, attach, read and detach."""
