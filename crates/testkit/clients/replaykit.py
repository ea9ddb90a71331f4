"""What the real-client replays (crates/*/tests/*client/replay.py) share: checks that fail with
a story, and steps run in order, one line printed each, stopping at the first failure."""
import traceback


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Steps:
    """`@steps("name")` registers a call; `steps.run()` makes them in order: 0 when all passed."""

    def __init__(self):
        self.registered = []

    def __call__(self, name):
        def register(fn):
            self.registered.append((name, fn))
            return fn
        return register

    def run(self) -> int:
        for name, fn in self.registered:
            try:
                outcome = fn()
            except Exception as error:  # the client's errors, validation errors, Failure, HTTP errors
                print(f"FAIL {name}: {type(error).__name__}: {error}")
                if not isinstance(error, Failure):
                    traceback.print_exc()
                return 1
            print(f"ok   {name}: {outcome}")
        print(f"all {len(self.registered)} calls passed")
        return 0
