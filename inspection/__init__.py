"""Core of the inspection station: types, config, ports and adapters, judge, store, runtime, CLI.

Never imports Qt (`station_ui`) or the training stack (`training`); see DESIGN.md.
"""

__version__ = "0.1.0"
