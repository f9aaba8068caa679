"""Process plumbing: settings, the composition root, logging, metrics, supervision."""
