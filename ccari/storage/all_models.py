"""Every model module, so that Alembic (and create_all in tools) sees the whole schema."""

from ccari.admission import models as admission_models
from ccari.callbacks import models as callbacks_models
from ccari.chat import models as chat_models
from ccari.cluster import models as cluster_models
from ccari.cobrowse import models as cobrowse_models
from ccari.crm import models as crm_models
from ccari.edge import models as edge_models
from ccari.email import models as email_models
from ccari.fax import models as fax_models
from ccari.provisioning import models as provisioning_models
from ccari.public import models as public_models
from ccari.recording import models as recording_models
from ccari.security import models as security_models
from ccari.sites import models as sites_models
from ccari.storage.models import Base
from ccari.voicemail import models as voicemail_models

__all__ = [
    "Base", "admission_models", "callbacks_models", "chat_models", "cluster_models",
    "cobrowse_models", "crm_models", "edge_models", "email_models", "fax_models",
    "provisioning_models", "public_models", "recording_models", "security_models",
    "sites_models", "voicemail_models",
]
