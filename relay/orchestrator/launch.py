"""What tmux runs in a new session: `python -m relay.orchestrator.launch`.

It reads the spawn file named by RELAY_SPAWN_FILE (written by the orchestrator,
readable by its owner only), deletes it (it holds the relay token), changes to the
spawn's cwd and replaces itself with the spawn's command (`relay run ... --
<provider>`) in the spawn's environment. The details travel in the file so that none
of them is ever a tmux argument or passes through a shell.
"""
import json
import os
import sys
import time


def main() -> int:
    path = os.environ.pop("RELAY_SPAWN_FILE", "")
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        os.unlink(path)
        os.chdir(spec["cwd"])
        env = {**os.environ, **spec["env"]}
        os.execvpe(spec["argv"][0], spec["argv"], env)
    except (OSError, ValueError, KeyError) as error:
        # Shown in the pane, which stays after the exit so the reason can be read.
        print(f"relay orchestrator: the agent cannot start: {error}", file=sys.stderr, flush=True)
        time.sleep(0.2)
        return 127


if __name__ == "__main__":
    raise SystemExit(main())
