"""Local mode: runs the project's Lambda handlers in local processes against the AWS emulator."""
