"""The ``dmabuf-check`` command: ``main`` parses, one ``cmd_*`` module per subcommand."""
