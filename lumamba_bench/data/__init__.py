"""Signal data: electrode registry, EDF reading, preprocessing, shards and loaders."""
