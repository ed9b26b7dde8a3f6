"""Camera port: anything that delivers `Frame`s of parts, one at a time.

Adapters: `replay` (image folder or video at line rate), `genicam` (GenTL producers via harvesters).
Chosen by `kind:` through `inspection.adapters.registry`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from inspection.domain.types import Frame, FrameFailure

__all__ = ["Camera", "CameraBase", "EndOfStream"]


class EndOfStream(Exception):
    """The source has no more parts (a replay run once to its end). Not an error."""


@runtime_checkable
class Camera(Protocol):
    camera_id: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self, timeout_s: float) -> Frame | FrameFailure | None:
        """The next part's frame; a FrameFailure when a part came but its image is unusable; None when
        no part came within `timeout_s`. Raises EndOfStream at the end, CameraError when the device fails."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class CameraBase:
    """Context-manager plumbing shared by adapters: `with camera:` opens and always closes."""

    camera_id: str

    def open(self) -> None:  # pragma: no cover - adapters override
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - adapters override
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
