"""`relay orchestrator`: the daemon on a host that runs agents for the relay in tmux.

The relay never starts a process: it queues commands (agent.spawn, agent.restart,
agent.shutdown, prompt.inject) for an orchestrator, which carries them out in tmux
sessions, reports what runs (the roster), and answers the relay's proxies from a
small HTTP API of its own. Like every agent-side program it talks to the relay only
through `relay.client` and imports nothing of the server.

tmux.py drives tmux; providers.py turns a provider and a spawn into a command line;
workspace.py keeps every cwd inside the base dir; state.py is the state file;
sessions.py spawns, stops, watches and adopts sessions; commands.py takes commands
from the relay and runs each once; api.py is the HTTP API; daemon.py runs it all;
cli.py reads the settings; launch.py is what tmux runs in a new session.
"""
