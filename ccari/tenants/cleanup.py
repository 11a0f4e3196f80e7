"""What a deleted tenant leaves outside the database, removed once its rows are gone: its
files under ccari's state dir (recordings, faxes; voicemails and prompts are rows) and, in a
running ccari, what the services hold in memory (the router's statistics and rules, caches).

The provisioning service calls each of ``Runtime.tenant_gone`` with the tenant's id after the
deletion's commit; each context appends what it must forget.  ``ccari admin tenants delete``
(no running services) removes the files only."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ccari.recording import files as recording_files

log = logging.getLogger(__name__)

#: Directories under the state dir with one sub-directory per tenant id.
TENANT_DIRS = (recording_files.DIR, "fax")


def tenant_dirs(state_dir: Path, tenant_id: int) -> list[Path]:
    return [state_dir / d / str(int(tenant_id)) for d in TENANT_DIRS]


def remove_files(state_dir: Path, tenant_id: int) -> None:
    for path in tenant_dirs(state_dir, tenant_id):
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            log.info("tenant %s deleted: %s removed", tenant_id, path)
