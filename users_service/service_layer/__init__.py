"""Use cases written against ports (protocols); adapters implement the ports."""
