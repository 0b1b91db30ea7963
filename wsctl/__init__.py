"""``wsctl``: the ops CLI. It checks, notifies and inspects deployed stacks and the local gateway
the same way (stack outputs, Lambda Invoke, ``@connections``), and starts the local emulator
(:mod:`local_gateway`) with ``wsctl local``."""
