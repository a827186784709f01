"""Environment checks run before anything is loaded: privilege, bcc, headers, tracefs, BPF."""
