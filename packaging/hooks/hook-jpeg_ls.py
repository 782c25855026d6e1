# pyjpegls (module jpeg_ls, CharLS) reads its version from its distribution's metadata on import.
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("pyjpegls")
