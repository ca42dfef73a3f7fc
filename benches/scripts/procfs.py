"""What the memory scripts read of a process from /proc (imported by
idle_keepalive.py and ws_crowd.py)."""


def rss_kib(pid):
    """The process's resident memory (VmRSS), KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")
