"""The knowledge-base domain, declared once: its names, collection, documents, job and schedule."""

from fd_pipeline.domain import Domain

from .collection import KB, KB_ASSETS, KB_PAYLOAD
from .scope import article_documents


def _built(store, _scope, _sync_settings, _model_key, failures):
    """Every stored article: a KB is small and has no updated_since, so each run reconciles it whole."""
    return article_documents(store, failures=failures)


def _kept(store, _scope, _model_key):
    return store.iter_documents(KB.name)


DOMAIN = Domain(
    name="kb", group="knowledge_base", chain=KB_ASSETS, item_type="kb_article", items="KB articles",
    spec=KB, payload=KB_PAYLOAD, documents=_built, kept=_kept, whole=True,
    job_description="Reconcile the knowledge base into kb_procedures.",
    # The KB job lists the whole tree each run; five minutes after the tickets keeps the two runs
    # from queueing on the writer limit at the same minute.
    schedule_minute=10, schedule_description="The knowledge base reconciled for the hour that just closed, at :10.",
)
