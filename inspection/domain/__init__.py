"""The vocabulary and the rules every other package speaks: `types` (frozen dataclasses: Frame,
Detection, Inspection, Verdict…), `recipe` and `judge` (detections → verdict), `permissions` (roles and
who may do what), `counts` (yield), `matching` (IoU, greedy matching), `images` (which files are
images), `tiling`. Imports nothing of the station but its configuration and errors.
"""
