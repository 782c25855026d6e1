# pylibjpeg finds its decoders through entry points (groups "pylibjpeg.*") that the plugin
# packages declare in their metadata, and reads its own version from its metadata: collect the
# metadata, and import every plugin module explicitly, because nothing imports them by name.
#
# pylibjpeg-libjpeg is skipped even when installed: it is GPL-3.0, and trainer.io.dicom never
# asks pylibjpeg for the formats it would decode (see PERMISSIVE_PLUGINS there).
from importlib import metadata

from PyInstaller.utils.hooks import copy_metadata, logger

GPL_PLUGINS = {"pylibjpeg-libjpeg"}

datas = copy_metadata("pylibjpeg")
hiddenimports = []
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    points = [ep for ep in dist.entry_points if ep.group.startswith("pylibjpeg.")]
    if not points or name == "pylibjpeg":
        continue
    if name in GPL_PLUGINS:
        logger.info("hook-pylibjpeg: leaving out %s (GPL-3.0)", name)
        continue
    datas += copy_metadata(name)
    hiddenimports += sorted({ep.value.split(":")[0] for ep in points})
    logger.info("hook-pylibjpeg: plugin %s", name)

excludedimports = ["libjpeg"]
