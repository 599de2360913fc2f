"""The node's consoles: the web console's files (`static/`, served by `hyperbuddy@1.0` and
`cacheviz@1.0`) and the interactive process console of the command line (`repl`)."""
