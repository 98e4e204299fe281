"""Configuration: the YAML validator, the lab inventory (boards.yaml) and the delegate catalogue."""
