"""What the nodes of a cluster share (Redis), when ``redis_url`` is set; nothing here runs
on a single node. See docs/scale-out.md."""
