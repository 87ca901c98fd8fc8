"""The command-line layer: parse options, call the library, render, map exit codes."""
