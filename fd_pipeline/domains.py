"""The project's domains, in the order the definitions list them: adding a domain is its folder
(docs/contracts.md, "Adding a domain") and its line here."""

from fd_pipeline.knowledge_base.domain import DOMAIN as KNOWLEDGE_BASE
from fd_pipeline.tickets.domain import DOMAIN as TICKETS

DOMAINS = (TICKETS, KNOWLEDGE_BASE)

CHAINS = tuple(domain.chain for domain in DOMAINS)
# Every asset of the project, each chain in run order.
ASSETS = tuple(name for chain in CHAINS for name in chain)
COLLECTIONS = tuple(domain.chain.collection for domain in DOMAINS)
