"""Checkpoint layout converters: official releases and mmpretrain <-> mmbeit."""
