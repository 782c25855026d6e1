"""brainmri-app: the PySide6 desktop viewer and training wizard on top of :mod:`trainer`.

Research and education only — not for clinical use.

Qt lives only in this package; :mod:`trainer` never imports it. Entry point:
:func:`desktop_app.main.main` (``brainmri-app``).
"""
