"""Self-contained HTML reports: page building and escaping (:mod:`.html`), figures as embedded PNGs
(:mod:`.figures`), the report's own sections (:mod:`.core_sections`) and the assembly of one run's report
from its run directory alone (:mod:`.build`)."""
