"""kerasae's built-in presets (data only: one folder per preset, see README.md here).

Installed as the package ``kerasae._builtin_presets`` (pyproject.toml maps it onto this folder), which
``kerasae.presets`` finds with ``importlib.resources``; this file makes it a regular package, so that an
editable install resolves it too.
"""
