"""Health of the inspection itself: per-part signals, baselines, drift detection, forecasts and warnings
before defects escape (see docs/health.md).

`HealthMonitor` is the core; `HealthListener` puts it in a running station; `HealthLog` keeps it in the
station's database; `simulate_health` proves it on the process twin (`station health simulate`).
"""

from inspection.health.baseline import Baseline
from inspection.health.kinds import HealthKind, HealthWarning, Severity
from inspection.health.monitor import HealthConfig, HealthMonitor, SignalState
from inspection.health.signals import SIGNALS, SignalSpec, image_signals

__all__ = ["SIGNALS", "Baseline", "HealthConfig", "HealthKind", "HealthMonitor", "HealthWarning", "Severity",
           "SignalSpec", "SignalState", "image_signals"]
