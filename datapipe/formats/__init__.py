"""Episodes on disk (tier 2): the shard dataset (``shards/``), LeRobot v2.x/v3.0 (``lerobot/``),
robomimic / robosuite / ALOHA HDF5 (``hdf5``), RLDS TFRecords (``rlds``), and what every writer
shares: sink ownership of its folder (``ownership``) and episodes staged until a sink's finalize
(``staging``)."""
