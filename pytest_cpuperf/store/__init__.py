"""Where expectations are kept: baseline files (one JSON file per machine class) behind a small
interface, and the file primitives they rely on (atomic writes, versioned JSON, locks).

A second store, a history database, plugs in beside the files through :class:`BaselineStore`.
"""

from .baselines import (
    MAX_RUNS,
    SCHEMA,
    SCHEMA_VERSION,
    BaselineFile,
    BaselineStore,
    JsonBaselineStore,
    baseline_path,
    baseline_to_judge,
    legacy_baseline_path,
    legacy_machine_key,
    load,
    machine_info,
    machine_key,
    machine_mismatch,
    save,
    update_file,
    updated,
)

__all__ = [
    "MAX_RUNS", "SCHEMA", "SCHEMA_VERSION", "BaselineFile", "BaselineStore", "JsonBaselineStore",
    "baseline_path", "baseline_to_judge", "legacy_baseline_path", "legacy_machine_key", "load",
    "machine_info", "machine_key", "machine_mismatch", "save", "update_file", "updated",
]
