"""The PBX: a real Asterisk 22 rendered from a :class:`PbxSpec`, provisioned and run by ccari.

Typical use::

    rt = provision()                                   # once; cached afterwards
    secrets = load_or_create_secrets(default_state_dir("demo"))
    spec = PbxSpec(instance="demo", app_name="ccari-demo", **secrets, numbers=(...))
    pbx = start(spec)                                  # waits until SIP and ARI are ready
    reload(spec_with_new_agents)                       # when agents or numbers change
    pbx.stop()

Prompts are played as ``sound:ccari/<name>`` (see sounds/make.sh); music class "default".
"""

from ccari.pbx.errors import (
    CommandError,
    NotProvisionedError,
    NotRunningError,
    PbxError,
    ProvisionError,
    RenderError,
    SpecError,
    StartError,
    StopError,
)
from ccari.pbx.instance import (
    PbxProcess,
    PbxStatus,
    is_running,
    reload,
    rx,
    start,
    status,
    stop,
)
from ccari.pbx.probes import ari_probe
from ccari.pbx.provision import provision
from ccari.pbx.render import BUSY_SOUND, SOUND_PREFIX, Dirs, render, render_texts
from ccari.pbx.runtime import Runtime, default_root, find_runtime
from ccari.pbx.secrets import default_state_dir, load_or_create_secrets
from ccari.pbx.spec import Number, PbxSpec, Phone, Ports, Trunk, spec_from_dict, spec_to_dict

__all__ = [
    "BUSY_SOUND",
    "SOUND_PREFIX",
    "CommandError",
    "Dirs",
    "NotProvisionedError",
    "NotRunningError",
    "Number",
    "PbxError",
    "PbxProcess",
    "PbxSpec",
    "PbxStatus",
    "Phone",
    "Ports",
    "ProvisionError",
    "RenderError",
    "Runtime",
    "SpecError",
    "StartError",
    "StopError",
    "Trunk",
    "ari_probe",
    "default_root",
    "default_state_dir",
    "find_runtime",
    "is_running",
    "load_or_create_secrets",
    "provision",
    "reload",
    "render",
    "render_texts",
    "rx",
    "spec_from_dict",
    "spec_to_dict",
    "start",
    "status",
    "stop",
]
